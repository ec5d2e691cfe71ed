# DAS on CelebA 64: the code's DAS1 (mean of eps_theta as model output, per-t normalised gradients, scores times the
# residual r_i); the leverage variant is method.method=das0 (das0_sq: squared, the paper's formula).
_base_ = ["./_base_/celeba.py"]

method = dict(method="das1")
