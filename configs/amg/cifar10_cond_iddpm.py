# Table 3, iDDPM row: plain ancestral sampling (no guidance).
_base_ = ["./_base_/cifar10_cond.py"]
