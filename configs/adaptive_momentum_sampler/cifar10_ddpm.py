# Baseline: the official sampler's method "o" (DDPM, eta = 1.0) on the cifar10 model; `bench sweep` runs each step
# count.
_base_ = ["./_base_/cifar10.py"]

method = dict(scheduler=dict(method="o", eta=1.0))
paper = dict(setting={"sampler": "DDPM", "method": "base"})
