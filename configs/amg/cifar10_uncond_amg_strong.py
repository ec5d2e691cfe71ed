# Table 2, AMG (Strong): the paper does not give Strong's c3; we chose twice Main's (1000 x 160).
_base_ = ["./_base_/cifar10_uncond.py"]

method = dict(guidance=dict(setting="strong", schedule="dynamic", comparison="x0"))
paper = dict(setting={"method": "AMG (Strong)"})
