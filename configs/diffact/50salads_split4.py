# Released DiffAct model for 50Salads split 4: trained_models/50salads-Trained-S4/release.model of Finspire13/DiffAct,
# the epoch the authors selected on the test splits (issue #1), so it fills the published row.
_base_ = ["./_base_/50salads.py"]

dataset = dict(split=4)
method = dict(checkpoint="checkpoints/diffact/50salads-Trained-S4/release.model")
paper = dict(setting={"dataset": "50Salads", "split": "4", "selection": "selected on test (as published)"})
