# LSUN Church 256: the original DDPM checkpoint (model-4432000.ckpt, pesser/pytorch_diffusion), uniform grid.
# Reference: statistics of 50,000 training images exported from the LSUN lmdb at 256x256, built once with
#   bench reference data/lsun_church/train_50k --out data/reference/lsun_church_50k.npz --weights <inception weights>
_base_ = ["./ams.py"]

method = dict(model="checkpoints/ams/model-4432000.ckpt", preset="lsun_church",
              scheduler=dict(type="AdaptiveMomentumScheduler", timestep_spacing="uniform"))
task = dict(reference="data/reference/lsun_church_50k.npz")
paper = dict(setting={"dataset": "LSUN Church 256"})
run = dict(batch_size=32)
