# Compress Guidance demo, reference: classifier guidance at all 250 respaced steps.
_base_ = ["../../compress_guidance/_base_/demo_digits_full.py"]

method = dict(guidance=dict(schedule=dict(kind="full")))
