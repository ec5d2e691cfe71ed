# DiffTriplet on CholecT45 fold 2 (test = official fold k, train = the other four; backbone and model trained here).
_base_ = ["./_base_/cholect45.py"]

dataset = dict(fold=2)
train = dict(dataset=dict(fold=2))
paper = dict(setting={"dataset": "CholecT45", "split": "fold 2", "method": "DiffTriplet"})
