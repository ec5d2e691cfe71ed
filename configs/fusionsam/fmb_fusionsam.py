# FusionSAM on FMB: the fused image through frozen SAM ViT-H plus the fused latents through the adapter.
_base_ = ["./_base_/fmb.py"]

paper = dict(setting=dict(method="FusionSAM"))
