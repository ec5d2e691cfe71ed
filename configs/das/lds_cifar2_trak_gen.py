# TRAK on CIFAR-2's generated queries (configs/das/_base_/cifar2_gen.py): the training loss (mse) as model output,
# no per-t normalisation.
_base_ = ["./_base_/cifar2_gen.py"]

method = dict(method="trak")
