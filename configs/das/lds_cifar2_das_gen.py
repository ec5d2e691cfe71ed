# DAS on CIFAR-2's generated queries (configs/das/_base_/cifar2_gen.py): the code's DAS1 (mean of eps_theta as model
# output, per-t normalised gradients, scores times the residual r_i).
_base_ = ["./_base_/cifar2_gen.py"]

method = dict(method="das1")
