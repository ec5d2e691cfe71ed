# VSSD-Micro (v1 code), official ImageNet-1K checkpoint vssd_micro_best.pth (Hugging Face YuhengSSS/VSSD).
_base_ = ["./_base_/in1k.py"]

method = dict(model_name="vssd_micro", checkpoint="checkpoints/vssd/vssd_micro_best.pth")
paper = dict(setting=dict(dataset="ImageNet-1K", model="VSSD-Micro", setting="v1"))
