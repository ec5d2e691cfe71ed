# Compress Guidance quick demo, naive baseline at the same budget: uniform skipping, every 5th step plus the last
# two (12 guided steps of 50).
_base_ = ["../compress_guidance/_base_/demo_digits.py"]

method = dict(guidance=dict(schedule=dict(kind="uniform", skip=5)))
