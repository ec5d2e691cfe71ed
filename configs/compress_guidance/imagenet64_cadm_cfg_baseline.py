# ImageNet-64 CADM-CFG, the baseline: the unconditional pass at all 250 steps.
_base_ = ["./_base_/imagenet64_cadm_cfg.py"]

paper = dict(setting={"method": "baseline"})
