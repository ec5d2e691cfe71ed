# FusionSAM demo (full profile), baseline: the same tiny SAM trained on the visible image only.
_base_ = ["./fusionsam_fused.py"]

method = dict(input="rgb", adapter=False)
