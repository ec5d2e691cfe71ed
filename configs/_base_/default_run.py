# Execution defaults shared by every config (bench.config.RUN_DEFAULTS fills anything not set here).
run = dict(seed=0, batch_size=64, num_workers=0, device="auto", precision="fp32")
wandb = dict(project="bench")
