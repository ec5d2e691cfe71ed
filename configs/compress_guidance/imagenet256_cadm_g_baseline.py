# ImageNet-256 CADM-G, the baseline: classifier guidance at all 250 respaced steps.
_base_ = ["./_base_/imagenet256_cadm_g.py"]

paper = dict(setting={"method": "baseline"})
