# Compress Guidance demo: skip 5 (50 slots), k = 2 (the authors' script default): 47 distinct budget steps plus the
# last two, collided slots merged into heavier steps.
_base_ = ["../../compress_guidance/_base_/demo_digits_full.py"]

method = dict(guidance=dict(schedule=dict(kind="compress", skip=5, k=2)))
