# ImageNet-256 CADM-G with Compress Guidance at the authors' script defaults (skip 5, k 2; the row's k is not
# reported).
_base_ = ["./_base_/imagenet256_cadm_g.py"]

method = dict(guidance=dict(schedule=dict(kind="compress", skip=5, k=2)))
paper = dict(setting={"method": "CompG"})
