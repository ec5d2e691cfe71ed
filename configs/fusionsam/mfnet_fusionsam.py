# FusionSAM on MFNet: the fused image through frozen SAM ViT-H plus the fused latents through the adapter.
_base_ = ["./_base_/mfnet.py"]

paper = dict(setting=dict(method="FusionSAM"))
