# DiffAct trained here on 50Salads split 5 with the official settings, evaluated at the last epoch (no selection).
_base_ = ["./_base_/50salads.py", "./_base_/50salads_train.py"]

dataset = dict(split=5)
train = dict(dataset=dict(split=5), val_dataset=dict(split=5))
paper = dict(setting={"dataset": "50Salads", "split": "5", "selection": "last epoch"})
