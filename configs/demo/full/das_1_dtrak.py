# DAS full demo: demo/das_1_dtrak against the 64-subset ground truth (demo/full/das_0_groundtruth) at k = 2048.
_base_ = ["../das_1_dtrak.py"]

method = dict(k=2048)
upstream = dict(groundtruth=dict(config="demo/full/das_0_groundtruth"))
