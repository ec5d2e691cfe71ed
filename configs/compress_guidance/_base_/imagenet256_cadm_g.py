# ImageNet-256 CADM-G: the class-conditional 256x256 model, classifier scale 1.0 (the guided-diffusion README's
# value; ADM reports FID 4.59 there, next to the paper's baseline 4.58; the authors' scripts use 6.0, and which run
# fed the table is unknown).
_base_ = ["./imagenet256.py"]

method = dict(backbone=dict(type="adm", checkpoint="checkpoints/guided_diffusion/256x256_diffusion.pt", use_fp16=True),
              guidance=dict(scale=1.0))
paper = dict(setting={"dataset": "ImageNet-256", "model": "CADM-G", "guidance": "classifier"})
