# ImageNet-256 DiT-XL/2 CFG, the baseline: both passes at all 250 steps.
_base_ = ["./_base_/imagenet256_dit_cfg.py"]

paper = dict(setting={"method": "baseline"})
