# Model fitting under Compress Guidance (skip 5, k 5, as the ImageNet-64 CADM-G CompG row).
_base_ = ["./_base_/imagenet64_phenomenon.py"]

method = dict(guidance=dict(schedule=dict(kind="compress", skip=5, k=5)))
paper = dict(setting={"method": "CompG"})
