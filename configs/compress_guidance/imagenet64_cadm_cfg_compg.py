# ImageNet-64 CADM-CFG with Compress Guidance (skip 5, k 2, the script defaults): the unconditional pass runs only
# at the schedule's steps; the counter gates, it does not scale (the authors' CFG code).
_base_ = ["./_base_/imagenet64_cadm_cfg.py"]

method = dict(guidance=dict(schedule=dict(kind="compress", skip=5, k=2)))
paper = dict(setting={"method": "CompG"})
