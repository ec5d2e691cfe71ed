# D-TRAK on CIFAR-10: model output ||eps_theta||^2 / d (mean-squared-l2-norm), no per-t normalisation.
_base_ = ["./_base_/cifar10.py"]

method = dict(method="dtrak")
