# Bright Ending demo: Wen's prompt-embedding optimisation with the plain loss ||eps_c - eps_u||
# at step 0 (AdamW lr 0.05, 10 iterations, no target: every iteration runs), float32 on CPU.
_base_ = ["../../bright_ending/_base_/demo_digits_full.py"]

dataset = dict(part="memorized")
method = dict(mitigation=dict(type="prompt_optimization", loss="plain", lr=0.05, iters=10, target_loss=None,
                              target_step=0, dtype="float32"))
