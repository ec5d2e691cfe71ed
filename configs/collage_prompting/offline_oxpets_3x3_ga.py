# Offline oxpets 3x3: the official validation collages (val/oxpets; no recorded answers, so only the
# predicted accuracy of the GA arrangement against a seeded random one), predictor trained on the ImageNet records
# (see _base_/offline.py).
_base_ = ["./_base_/offline.py"]

dataset = dict(_delete_=True, type="CollagePrompt", root="data/collageprompt/dataset", grid=3, split="val",
               dataset="oxpets")
method = dict(grid=3, search="ga")
train = dict(dataset=dict(grid=3))
