# Released DiffAct model for GTEA split 3: trained_models/GTEA-Trained-S3/release.model of Finspire13/DiffAct,
# the epoch the authors selected on the test splits (issue #1), so it fills the published row.
_base_ = ["./_base_/gtea.py"]

dataset = dict(split=3)
method = dict(checkpoint="checkpoints/diffact/GTEA-Trained-S3/release.model")
paper = dict(setting={"dataset": "GTEA", "split": "3", "selection": "selected on test (as published)"})
