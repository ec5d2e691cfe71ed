# DiffAct trained here on GTEA split 1 with the official settings, evaluated at the last epoch (no selection).
_base_ = ["./_base_/gtea.py", "./_base_/gtea_train.py"]

dataset = dict(split=1)
train = dict(dataset=dict(split=1), val_dataset=dict(split=1))
paper = dict(setting={"dataset": "GTEA", "split": "1", "selection": "last epoch"})
