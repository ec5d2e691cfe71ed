# Offline ImageNet 2x2: held-out training collages,
# the best of 25 random arrangements under the predictor (official brute_force_adj);
# recorded accuracy of the chosen / a random / the best recorded arrangement (see _base_/offline.py).
_base_ = ["./_base_/offline.py"]

dataset = dict(grid=2)
method = dict(grid=2, search="brute_force")
train = dict(dataset=dict(grid=2))
