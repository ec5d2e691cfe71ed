# ImageNet-256 DiT-XL/2 with classifier-free guidance, sampled as DiT's sample.py does: the diffusers DiTPipeline
# folder's transformer and VAE (facebook/DiT-XL-2-256), 250 respaced ancestral steps with the learned sigma, no x0
# clipping, guidance on the first 3 of the 4 latent epsilon channels ("for exact reproducibility", DiT's
# forward_with_cfg), null class 1000, latents / 0.18215, images as clamp(127.5 x + 128). Scale 1.5: DiT's FID-50k
# setting (2.27, next to the paper's baseline 2.25). The authors' DiT script reads the schedule at
# int((t + 1) / 4) - 1 ("dit_script").
_base_ = ["./imagenet.py"]

method = dict(backbone=dict(type="dit", model="checkpoints/dit/DiT-XL-2-256"), clip_denoised=False, rounding="dit",
              guidance=dict(type="cfg", scale=1.5, combine="output", channels=3, unconditional="null_class",
                            schedule=dict(kind="full", index_convention="dit_script")))
task = dict(reference="data/reference/VIRTUAL_imagenet256_labeled.npz")
paper = dict(setting={"dataset": "ImageNet-256", "model": "DiT-XL/2", "guidance": "CFG"})
run = dict(batch_size=32)
