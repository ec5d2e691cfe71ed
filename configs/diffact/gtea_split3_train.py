# DiffAct trained here on GTEA split 3 with the official settings, evaluated at the last epoch (no selection).
_base_ = ["./_base_/gtea.py", "./_base_/gtea_train.py"]

dataset = dict(split=3)
train = dict(dataset=dict(split=3), val_dataset=dict(split=3))
paper = dict(setting={"dataset": "GTEA", "split": "3", "selection": "last epoch"})
