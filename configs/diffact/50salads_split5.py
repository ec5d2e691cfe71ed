# Released DiffAct model for 50Salads split 5: trained_models/50salads-Trained-S5/release.model of Finspire13/DiffAct,
# the epoch the authors selected on the test splits (issue #1), so it fills the published row.
_base_ = ["./_base_/50salads.py"]

dataset = dict(split=5)
method = dict(checkpoint="checkpoints/diffact/50salads-Trained-S5/release.model")
paper = dict(setting={"dataset": "50Salads", "split": "5", "selection": "selected on test (as published)"})
