# Offline caltech101 2x2: the official validation collages (val/caltech101; no recorded answers, so only the
# predicted accuracy of the GA arrangement against a seeded random one), predictor trained on the ImageNet records
# (see _base_/offline.py).
_base_ = ["./_base_/offline.py"]

dataset = dict(_delete_=True, type="CollagePrompt", root="data/collageprompt/dataset", grid=2, split="val",
               dataset="caltech101")
method = dict(grid=2, search="ga")
train = dict(dataset=dict(grid=2))
