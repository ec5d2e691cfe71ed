# ImageNet-64 CADM-G, the baseline: classifier guidance at all 250 respaced steps.
_base_ = ["./_base_/imagenet64_cadm_g.py"]

paper = dict(setting={"method": "baseline"})
