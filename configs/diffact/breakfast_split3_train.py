# DiffAct trained here on Breakfast split 3 with the official settings, evaluated at the last epoch (no selection).
_base_ = ["./_base_/breakfast.py", "./_base_/breakfast_train.py"]

dataset = dict(split=3)
train = dict(dataset=dict(split=3), val_dataset=dict(split=3))
paper = dict(setting={"dataset": "Breakfast", "split": "3", "selection": "last epoch"})
