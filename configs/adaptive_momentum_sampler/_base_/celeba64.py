# CelebA 64x64: ermongroup/ddim's CelebA checkpoint (the official configs' ch_mult [1, 2, 2, 2, 4]), uniform grid.
# Reference: statistics of the 64x64 training images, built once with
#   bench reference data/celeba64/train --out data/reference/celeba64_train.npz --weights <inception weights>
_base_ = ["./ams.py"]

method = dict(model="checkpoints/ams/celeba64_ckpt.pth", preset="celeba",
              scheduler=dict(type="AdaptiveMomentumScheduler", timestep_spacing="uniform"))
task = dict(reference="data/reference/celeba64_train.npz")
paper = dict(setting={"dataset": "CelebA 64"})
