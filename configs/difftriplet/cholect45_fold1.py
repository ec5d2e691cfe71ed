# DiffTriplet on CholecT45 fold 1 (test = official fold k, train = the other four; backbone and model trained here).
_base_ = ["./_base_/cholect45.py"]

dataset = dict(fold=1)
train = dict(dataset=dict(fold=1))
paper = dict(setting={"dataset": "CholecT45", "split": "fold 1", "method": "DiffTriplet"})
