# TRAK on CelebA 64: the training loss (mse) as model output, no per-t normalisation (D-TRAK's TRAK baseline).
_base_ = ["./_base_/celeba.py"]

method = dict(method="trak")
