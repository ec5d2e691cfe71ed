# Baseline: the official sampler's method "o" (DDPM, eta = 1.0) on the lsun_bedroom model; `bench sweep` runs each step
# count.
_base_ = ["./_base_/lsun_bedroom.py"]

method = dict(scheduler=dict(method="o", eta=1.0))
paper = dict(setting={"sampler": "DDPM", "method": "base"})
