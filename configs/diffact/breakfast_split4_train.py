# DiffAct trained here on Breakfast split 4 with the official settings, evaluated at the last epoch (no selection).
_base_ = ["./_base_/breakfast.py", "./_base_/breakfast_train.py"]

dataset = dict(split=4)
train = dict(dataset=dict(split=4), val_dataset=dict(split=4))
paper = dict(setting={"dataset": "Breakfast", "split": "4", "selection": "last epoch"})
