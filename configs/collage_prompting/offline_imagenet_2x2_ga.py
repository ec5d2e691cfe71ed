# Offline ImageNet 2x2: held-out training collages,
# the genetic search (official 2x2 preset) under the predictor;
# recorded accuracy of the chosen / a random / the best recorded arrangement (see _base_/offline.py).
_base_ = ["./_base_/offline.py"]

dataset = dict(grid=2)
method = dict(grid=2, search="ga")
train = dict(dataset=dict(grid=2))
