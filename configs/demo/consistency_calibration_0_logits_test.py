# Logit cache for the CC demo: the harness demo's digits classifier (trained once, shared) on the test split.
_base_ = ["./harness_digits.py"]
