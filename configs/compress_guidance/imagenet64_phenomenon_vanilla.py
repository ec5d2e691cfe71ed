# Model fitting, vanilla guidance: the ResNet-152's accuracy on samples guided at all 250 steps.
_base_ = ["./_base_/imagenet64_phenomenon.py"]

paper = dict(setting={"method": "vanilla guidance"})
