# Released DiffAct model for Breakfast split 1: trained_models/Breakfast-Trained-S1/release.model of Finspire13/DiffAct,
# the epoch the authors selected on the test splits (issue #1), so it fills the published row.
_base_ = ["./_base_/breakfast.py"]

dataset = dict(split=1)
method = dict(checkpoint="checkpoints/diffact/Breakfast-Trained-S1/release.model")
paper = dict(setting={"dataset": "Breakfast", "split": "1", "selection": "selected on test (as published)"})
