# ImageNet-256 ADM-G: the unconditional 256x256 model with the classifier, scale 10.0 (the guided-diffusion README's
# value for this pair; ADM reports FID 12.0, next to the paper's baseline 11.96; the authors' scripts use 8.0).
_base_ = ["./imagenet256.py"]

method = dict(backbone=dict(type="adm", checkpoint="checkpoints/guided_diffusion/256x256_diffusion_uncond.pt",
                            use_fp16=True),
              guidance=dict(scale=10.0))
paper = dict(setting={"dataset": "ImageNet-256", "model": "ADM-G (uncond + classifier)", "guidance": "classifier"})
