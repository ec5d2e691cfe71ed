# ImageNet-1k, the standard prompt: one call per image at 512 px (the baseline the collages are compared against;
# groups of 4 only batch the calls).
_base_ = ["./_base_/imagenet.py"]

method = dict(mode="standard", arrangement="identity")
paper = dict(setting={"grid": "1x1"})
