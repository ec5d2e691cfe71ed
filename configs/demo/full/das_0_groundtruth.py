# DAS demo, full (`bench demo --full`): the digits-2 LDS ground truth with the benchmark's 64 subsets (the quick one
# retrains 16; the first 16 subsets are the same draws, seeds 42 + 2k).
_base_ = ["../das_0_groundtruth.py"]

method = dict(num_subsets=64)
