# Baseline: the official sampler's method "o" (DDIM, eta = 0.0) on the lsun_church model; `bench sweep` runs each step
# count.
_base_ = ["./_base_/lsun_church.py"]

method = dict(scheduler=dict(method="o", eta=0.0))
paper = dict(setting={"sampler": "DDIM", "method": "base"})
