# ImageNet-1k, 2x2 collages in a seeded random arrangement (the paper's collage baseline), GPT-4o.
_base_ = ["./_base_/imagenet.py"]

dataset = dict(grid=2)
method = dict(grid=2)
paper = dict(setting={"grid": "2x2"})
