# ImageNet-256 DiT-XL/2 CFG with Compress Guidance at the authors' script defaults (skip 5, quadratic k = 2; the
# row's skip and k are not reported).
_base_ = ["./_base_/imagenet256_dit_cfg.py"]

method = dict(guidance=dict(schedule=dict(kind="compress", skip=5, k=2)))
paper = dict(setting={"method": "CompG"})
