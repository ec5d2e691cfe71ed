# Compress Guidance demo, naive baseline at the same budget: uniform skipping, every 5th step plus the last two.
_base_ = ["../../compress_guidance/_base_/demo_digits_full.py"]

method = dict(guidance=dict(schedule=dict(kind="uniform", skip=5)))
