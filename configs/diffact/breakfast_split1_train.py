# DiffAct trained here on Breakfast split 1 with the official settings, evaluated at the last epoch (no selection).
_base_ = ["./_base_/breakfast.py", "./_base_/breakfast_train.py"]

dataset = dict(split=1)
train = dict(dataset=dict(split=1), val_dataset=dict(split=1))
paper = dict(setting={"dataset": "Breakfast", "split": "1", "selection": "last epoch"})
