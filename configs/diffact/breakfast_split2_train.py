# DiffAct trained here on Breakfast split 2 with the official settings, evaluated at the last epoch (no selection).
_base_ = ["./_base_/breakfast.py", "./_base_/breakfast_train.py"]

dataset = dict(split=2)
train = dict(dataset=dict(split=2), val_dataset=dict(split=2))
paper = dict(setting={"dataset": "Breakfast", "split": "2", "selection": "last epoch"})
