# Logit cache for the CC demo: the harness demo's digits classifier (trained once, shared) on the val split.
_base_ = ["./harness_digits.py"]

dataset = dict(split="val")
