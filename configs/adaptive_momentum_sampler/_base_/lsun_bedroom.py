# LSUN Bedroom 256: the original DDPM checkpoint (model-2388000.ckpt, pesser/pytorch_diffusion), uniform grid.
# Reference: statistics of 50,000 training images exported from the LSUN lmdb at 256x256, built once with
#   bench reference data/lsun_bedroom/train_50k --out data/reference/lsun_bedroom_50k.npz --weights <inception weights>
_base_ = ["./ams.py"]

method = dict(model="checkpoints/ams/model-2388000.ckpt", preset="lsun_bedroom",
              scheduler=dict(type="AdaptiveMomentumScheduler", timestep_spacing="uniform"))
task = dict(reference="data/reference/lsun_bedroom_50k.npz")
paper = dict(setting={"dataset": "LSUN Bedroom 256"})
run = dict(batch_size=32)
