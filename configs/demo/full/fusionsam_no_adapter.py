# FusionSAM demo (full profile), ablation: the fused image without the latent adapter; the VQ models and the fusion
# network are demo/full/fusionsam_fused's (upstream: trained once), only SAM trains here.
_base_ = ["./fusionsam_fused.py"]

upstream = dict(fusion=dict(config="demo/full/fusionsam_fused", product="checkpoint"))
method = dict(adapter=False, fusion_checkpoint="upstream:fusion")
