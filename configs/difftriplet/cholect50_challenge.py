# DiffTriplet on the CholecT50 challenge split: train on the 45 CholecT45 videos, test on VID92/96/103/110/111.
_base_ = ["./_base_/cholect50.py"]

dataset = dict(split="challenge", fold=None)
train = dict(dataset=dict(split="challenge", fold=None))
paper = dict(setting={"dataset": "CholecT50", "split": "challenge", "method": "DiffTriplet"})
