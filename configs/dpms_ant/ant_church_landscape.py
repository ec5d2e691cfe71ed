# DPMs-ANT (DDPM) LSUN Church -> Landscape, Table 1: ./_base_/ddpm_ant.py with the church source.
# LSUN Church source: the checkpoint CHURCH.ckpt stands for, Ho et al.'s LSUN Church DDPM as
# pesser/pytorch_diffusion converted it (model-4432000.ckpt; the DDPM 'simple' UNet).
_base_ = ["./_base_/ddpm_ant.py"]

method = dict(source=dict(model="checkpoints/ams/model-4432000.ckpt", preset="lsun_church"))
train = dict(dataset=dict(type="FewShotImages", root="data/fewshot", target="landscape_drawings", split="train10",
                          size=256),
             seed=1228)
upstream = dict(classifier=dict(config="dpms_ant/classifier_church_landscape", product="checkpoint"))
task = dict(reference=dict(dataset=dict(type="FewShotImages", root="data/fewshot", target="landscape_drawings",
                                        split="full", size=256)),
            metrics=[dict(type="FID"),
                     dict(type="IntraLPIPS", cluster_size=50, resize=256,
                          centres=dict(type="FewShotImages", root="data/fewshot", target="landscape_drawings",
                                       split="train10", size=256),
                          distance=dict(type="lpips",
                                        backbone_weights="checkpoints/torchvision/vgg16-397923af.pth")),
                     dict(type="TrainableShare")])
paper = dict(setting={"dataset": "LSUN Church -> Landscape", "method": "DDPM-ANT"})
