# ImageNet-256 ADM-G, the baseline: classifier guidance at all 250 respaced steps.
_base_ = ["./_base_/imagenet256_adm_g.py"]

paper = dict(setting={"method": "baseline"})
