# TRAK on CIFAR-2: the training loss (mse) as model output, no per-t normalisation (D-TRAK's TRAK baseline).
_base_ = ["./_base_/cifar2.py"]

method = dict(method="trak")
paper = dict(setting={"method": "TRAK"})
