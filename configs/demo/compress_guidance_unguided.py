# Compress Guidance quick demo, floor: the unconditional DDPM without guidance (the requested labels go unused,
# so the class accuracies sit near chance).
_base_ = ["../compress_guidance/_base_/demo_digits.py"]

method = dict(guidance=dict(schedule=dict(kind="none")))
