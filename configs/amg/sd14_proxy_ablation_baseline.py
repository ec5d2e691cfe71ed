# Table 4, Baseline (proxy reference): no guidance.
_base_ = ["./_base_/sd14_proxy_ablation.py"]
