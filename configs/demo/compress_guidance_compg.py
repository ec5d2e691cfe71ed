# Compress Guidance quick demo: skip 5 (10 slots of 50 steps), k = 2 (the authors' script default): 9 distinct
# budget steps plus the last two (11 guided steps, 12 classifier-gradient weight units), collided slots merged.
_base_ = ["../compress_guidance/_base_/demo_digits.py"]

method = dict(guidance=dict(schedule=dict(kind="compress", skip=5, k=2)))
