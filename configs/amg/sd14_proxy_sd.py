# Table 1, SD row (proxy reference): plain DDIM + CFG.
_base_ = ["./_base_/sd14_proxy.py"]
