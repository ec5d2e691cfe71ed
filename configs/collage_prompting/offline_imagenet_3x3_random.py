# Offline ImageNet 3x3: held-out training collages,
# a seeded random arrangement (the baseline; recorded: a seeded random record);
# recorded accuracy of the chosen / a random / the best recorded arrangement (see _base_/offline.py).
_base_ = ["./_base_/offline.py"]

dataset = dict(grid=3)
method = dict(grid=3, search="random")
train = dict(dataset=dict(grid=3))
