# DiffAct trained here on GTEA split 4 with the official settings, evaluated at the last epoch (no selection).
_base_ = ["./_base_/gtea.py", "./_base_/gtea_train.py"]

dataset = dict(split=4)
train = dict(dataset=dict(split=4), val_dataset=dict(split=4))
paper = dict(setting={"dataset": "GTEA", "split": "4", "selection": "last epoch"})
