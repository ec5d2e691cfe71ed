# VSSD-Small (v1 code) trained with MESA: checkpoint vssd_small_e300_with_mesa.pth from YuhengSSS/VSSD.
_base_ = ["./_base_/in1k.py"]

method = dict(model_name="vssd_small", checkpoint="checkpoints/vssd/vssd_small_e300_with_mesa.pth")
paper = dict(setting=dict(dataset="ImageNet-1K", model="VSSD-Small", setting="v1 + MESA"))
