# CIFAR-10 32x32: the original DDPM checkpoint the official code loads (pesser/pytorch_diffusion model-790000.ckpt,
# converted to diffusers' UNet2DModel with the documented key map), the official CIFAR-10 grid "quad", and
# statistics of the 50,000 training images (data/cifar10/cifar-10-batches-py) featurised once and cached.
_base_ = ["./ams.py"]

method = dict(model="checkpoints/ams/model-790000.ckpt", preset="cifar10",
              scheduler=dict(type="AdaptiveMomentumScheduler", timestep_spacing="quad"))
task = dict(reference=dict(dataset=dict(type="CIFAR10", root="data/cifar10", split="train_full")))
paper = dict(setting={"dataset": "CIFAR-10"})
