# Compress Guidance quick demo, reference: classifier guidance at all 50 respaced steps.
_base_ = ["../compress_guidance/_base_/demo_digits.py"]

method = dict(guidance=dict(schedule=dict(kind="full")))
