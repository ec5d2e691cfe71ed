# Table 1, AMG (Strong) (proxy reference): c3 = 200, our choice (the paper does not give Strong's c3).
_base_ = ["./_base_/sd14_proxy.py"]

method = dict(guidance=dict(setting="strong"))
paper = dict(setting={"method": "AMG (Strong)"})
