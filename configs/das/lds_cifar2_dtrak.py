# D-TRAK on CIFAR-2: model output ||eps_theta||^2 / d (mean-squared-l2-norm), no per-t normalisation.
_base_ = ["./_base_/cifar2.py"]

method = dict(method="dtrak")
paper = dict(setting={"method": "D-TRAK"})
