# Bright Ending demo: the 16 planted captions without mitigation (the baseline of the two mitigation runs).
_base_ = ["../bright_ending/_base_/demo_digits.py"]

dataset = dict(part="memorized")
