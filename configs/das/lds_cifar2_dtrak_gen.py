# D-TRAK on CIFAR-2's generated queries (configs/das/_base_/cifar2_gen.py): ||eps_theta||^2 / d
# (mean-squared-l2-norm) as model output, no per-t normalisation.
_base_ = ["./_base_/cifar2_gen.py"]

method = dict(method="dtrak")
