# AMS ("adam": momentum and adaptive pace) on DDPM (eta = 1.0) with the official defaults b_max = 0.1 (ascending from
# 0), c = 0.999 and sin^2/cos^2 momentum (the paper's per-dataset b_max and c are unknown to the sheet).
_base_ = ["./_base_/lsun_church.py"]

method = dict(scheduler=dict(method="adam", eta=1.0, b_min=0.0, b_max=0.1, c=0.999, momentum_mode=2))
paper = dict(setting={"sampler": "DDPM", "method": "AMS"})
