# Offline ImageNet 2x2: held-out training collages,
# a seeded random arrangement (the baseline; recorded: a seeded random record);
# recorded accuracy of the chosen / a random / the best recorded arrangement (see _base_/offline.py).
_base_ = ["./_base_/offline.py"]

dataset = dict(grid=2)
method = dict(grid=2, search="random")
train = dict(dataset=dict(grid=2))
