# Table 4, Full (proxy reference): AMG (Main), all three terms.
_base_ = ["./_base_/sd14_proxy_ablation.py"]

method = dict(guidance=dict(setting="main"))
paper = dict(setting={"method": "Full"})
