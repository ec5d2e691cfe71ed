# Table 1, AMG (Main) (proxy reference): the three terms as the official code applies them (despecification
# c1 = 13, caption deduplication c2 = 0.3 with its 10-step countdown, dissimilarity c3 = 100, the README's
# --guidance_scale), threshold lambda_t = 0.3 + 0.1 exp(-0.005 t); the base_count > 20 gate is dropped.
_base_ = ["./_base_/sd14_proxy.py"]

method = dict(guidance=dict(setting="main"))
paper = dict(setting={"method": "AMG (Main)"})
