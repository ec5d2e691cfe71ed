# ImageNet-1k, 3x3 collages in a seeded random arrangement (the paper's collage baseline), GPT-4o.
_base_ = ["./_base_/imagenet.py"]

dataset = dict(grid=3)
method = dict(grid=3)
paper = dict(setting={"grid": "3x3"})
