# ImageNet-64 CADM with classifier-free guidance, as the authors' GaussianDiffusionClassFree2_ComptQuad samples it:
# the conditional 64x64 model plus a separately trained unconditional 64x64 model, combined through the clipped x0
# ("x0"), w = 0.1 in their NeurIPS-era script (here guidance scale s = 1 + w = 1.1). The unconditional model
# `64x64_diffusion_unc.pt` is the authors' own and unreleased; it is assumed to have the conditional model's
# architecture without the class embedding (inferred). Their CFG sampler reads the schedule at the respaced index.
_base_ = ["./imagenet.py"]

method = dict(backbone=dict(type="adm", checkpoint="checkpoints/guided_diffusion/64x64_diffusion.pt", use_fp16=True),
              guidance=dict(type="cfg", scale=1.1, combine="x0", schedule=dict(kind="full"),
                            unconditional=dict(
                                type="adm", checkpoint="checkpoints/compress_guidance/64x64_diffusion_unc.pt",
                                use_fp16=True, diffusion=dict(steps=1000, noise_schedule="cosine", learn_sigma=True),
                                flags=dict(kind="diffusion", image_size=64, in_channels=3, model_channels=192,
                                           out_channels=6, num_res_blocks=3, attention_resolutions=(2, 4, 8),
                                           dropout=0.1, channel_mult=(1, 2, 3, 4), num_classes=None, use_fp16=True,
                                           num_heads=4, num_head_channels=64, use_scale_shift_norm=True,
                                           resblock_updown=True, use_new_attention_order=True))))
task = dict(reference="data/reference/VIRTUAL_imagenet64_labeled.npz")
paper = dict(setting={"dataset": "ImageNet-64", "model": "CADM", "guidance": "CFG"})
