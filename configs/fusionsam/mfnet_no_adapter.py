# Ablation on MFNet: the fused image through SAM without the latent adapter. The VQ models and the fusion network
# are mfnet_fusionsam's (upstream, trained once); only SAM's prompt encoder and decoder train here.
_base_ = ["./_base_/mfnet.py"]

upstream = dict(fusion=dict(config="fusionsam/mfnet_fusionsam", product="checkpoint"))
method = dict(adapter=False, fusion_checkpoint="upstream:fusion")
paper = dict(setting=dict(method="FusionSAM w/o adapter"))
