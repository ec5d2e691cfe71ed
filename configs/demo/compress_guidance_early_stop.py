# Compress Guidance quick demo, naive baseline at the same budget: early stopping, the first 10 of 50 steps.
_base_ = ["../compress_guidance/_base_/demo_digits.py"]

method = dict(guidance=dict(schedule=dict(kind="early_stop", steps=10)))
