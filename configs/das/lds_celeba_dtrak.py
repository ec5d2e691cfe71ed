# D-TRAK on CelebA 64: model output ||eps_theta||^2 / d (mean-squared-l2-norm), no per-t normalisation.
_base_ = ["./_base_/celeba.py"]

method = dict(method="dtrak")
