# VSSD-Small (v1 code), official ImageNet-1K checkpoint vssd_small_best_ema.pth (Hugging Face YuhengSSS/VSSD).
_base_ = ["./_base_/in1k.py"]

method = dict(model_name="vssd_small", checkpoint="checkpoints/vssd/vssd_small_best_ema.pth")
paper = dict(setting=dict(dataset="ImageNet-1K", model="VSSD-Small", setting="v1"))
