# Compress Guidance demo, naive baseline at the same budget: early stopping, the first 50 of 250 steps.
_base_ = ["../../compress_guidance/_base_/demo_digits_full.py"]

method = dict(guidance=dict(schedule=dict(kind="early_stop", steps=50)))
