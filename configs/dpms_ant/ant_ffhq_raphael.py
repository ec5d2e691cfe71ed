# DPMs-ANT (DDPM) FFHQ -> Raphael, Table 1: ./_base_/ddpm_ant.py with the ffhq source.
# FFHQ-256 DDPM source: not identified (the sheet: the addendum should name it; third-party URLs look
# invented), so `source` is a diffusers folder you supply; nothing here claims a checkpoint.
_base_ = ["./_base_/ddpm_ant.py"]

method = dict(source=dict(model="checkpoints/dpms_ant/ffhq256_ddpm"))
train = dict(dataset=dict(type="FewShotImages", root="data/fewshot", target="raphael", split="train10",
                          size=256),
             seed=1228)
upstream = dict(classifier=dict(config="dpms_ant/classifier_ffhq_raphael", product="checkpoint"))
task = dict(reference=dict(dataset=dict(type="FewShotImages", root="data/fewshot", target="raphael",
                                        split="full", size=256)),
            metrics=[dict(type="FID"),
                     dict(type="IntraLPIPS", cluster_size=50, resize=256,
                          centres=dict(type="FewShotImages", root="data/fewshot", target="raphael",
                                       split="train10", size=256),
                          distance=dict(type="lpips",
                                        backbone_weights="checkpoints/torchvision/vgg16-397923af.pth")),
                     dict(type="TrainableShare")])
paper = dict(setting={"dataset": "FFHQ -> Raphael", "method": "DDPM-ANT"})
