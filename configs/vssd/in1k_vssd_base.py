# VSSD-Base (v1 code), official ImageNet-1K checkpoint vssd_base_best_ema.pth (Hugging Face YuhengSSS/VSSD).
_base_ = ["./_base_/in1k.py"]

method = dict(model_name="vssd_base", checkpoint="checkpoints/vssd/vssd_base_best_ema.pth")
paper = dict(setting=dict(dataset="ImageNet-1K", model="VSSD-Base", setting="v1"))
