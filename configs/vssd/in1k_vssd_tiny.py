# VSSD-Tiny (v1 code), official ImageNet-1K checkpoint vssd_tiny_best_ema.pth (Hugging Face YuhengSSS/VSSD).
_base_ = ["./_base_/in1k.py"]

method = dict(model_name="vssd_tiny", checkpoint="checkpoints/vssd/vssd_tiny_best_ema.pth")
paper = dict(setting=dict(dataset="ImageNet-1K", model="VSSD-Tiny", setting="v1"))
