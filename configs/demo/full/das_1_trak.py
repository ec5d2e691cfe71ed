# DAS full demo: demo/das_1_trak against the 64-subset ground truth (demo/full/das_0_groundtruth) at k = 2048, DAS's
# residual over all 1000 timesteps as the code.
_base_ = ["../das_1_trak.py"]

method = dict(k=2048, residual_timesteps=1000)
upstream = dict(groundtruth=dict(config="demo/full/das_0_groundtruth"))
