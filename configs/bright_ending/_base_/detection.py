# The detection table: Wen's magnitude and BE's masked magnitude m' at the paper's three step budgets (first step,
# first 10 steps, all 50) for n_gens 1, 4 and 16, from one generation of 16 images per prompt (scored without
# regenerating). Memorized: Wen's 500 prompts (examples/sdv1_500_memorized.jsonl of
# YuxinWenRick/diffusion_memorization).
# Non-memorized: 2,500 prompts drawn once; every cell is the mean (and std) over 5 random subsets of 500 of them
# (the protocol's >= 5 subsets; the original subsets are lost, Wen repo issue #1). BE needs the last step's map
# before m' exists: passes=1 takes m' from the kept per-step differences (equal to the official second pass).
_base_ = ["./sd14.py"]

dataset = dict(type="DetectionPrompts",
               memorized=dict(type="MemorizedPrompts", prompts_file="data/memorization/sdv1_500_memorized.jsonl"))
method = dict(num_images=16, signals=("wen", "be"), store_images=False)
task = dict(type="text_to_image_memorization", keep_images=False, export_maps=0,
            metrics=[dict(type="MemorizationDetection", signal=signal, budget=budget, n_gens=n, subsets=5,
                          subset_size=500, prefix=f"{name} {budget} n={n} ")
                     for signal, name in (("text_noise_norm", "Wen"), ("masked_noise_norm", "BE"))
                     for budget in ("first_step", "first_10_steps", "all_steps") for n in (1, 4, 16)])
