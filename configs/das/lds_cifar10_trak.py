# TRAK on CIFAR-10: the training loss (mse) as model output, no per-t normalisation (D-TRAK's TRAK baseline).
_base_ = ["./_base_/cifar10.py"]

method = dict(method="trak")
