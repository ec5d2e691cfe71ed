# Offline ImageNet 3x3: held-out training collages,
# the genetic search (official 3x3 preset) under the predictor;
# recorded accuracy of the chosen / a random / the best recorded arrangement (see _base_/offline.py).
_base_ = ["./_base_/offline.py"]

dataset = dict(grid=3)
method = dict(grid=3, search="ga")
train = dict(dataset=dict(grid=3))
