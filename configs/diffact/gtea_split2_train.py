# DiffAct trained here on GTEA split 2 with the official settings, evaluated at the last epoch (no selection).
_base_ = ["./_base_/gtea.py", "./_base_/gtea_train.py"]

dataset = dict(split=2)
train = dict(dataset=dict(split=2), val_dataset=dict(split=2))
paper = dict(setting={"dataset": "GTEA", "split": "2", "selection": "last epoch"})
