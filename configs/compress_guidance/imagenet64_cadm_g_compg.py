# ImageNet-64 CADM-G with Compress Guidance: skip 5 (50 slots), k = 5. The main table's CompG FID 1.82 equals the
# k = 5 row of the k ablation (32 guidance steps), so this row is taken to be k = 5 (the sheet does not say).
_base_ = ["./_base_/imagenet64_cadm_g.py"]

method = dict(guidance=dict(schedule=dict(kind="compress", skip=5, k=5)))
paper = dict(setting={"method": "CompG"})
