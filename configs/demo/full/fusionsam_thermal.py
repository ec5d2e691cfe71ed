# FusionSAM demo (full profile), baseline: the same tiny SAM trained on the thermal image only.
_base_ = ["./fusionsam_fused.py"]

method = dict(input="thermal", adapter=False)
