# ImageNet-1k validation images (the paper's ImageNet validation collages are groups of its 50,000 images; its own
# grouping is in the official val metainfo, see bench.datasets.collage_prompt), 1,000 categories in the prompt.
_base_ = ["./online.py"]

dataset = dict(type="CollageGroups", grid=2, seed=0,
               source=dict(type="ImageNetVal", root="data/imagenet", split="all", resize=512, crop_size=512))
method = dict(categories="imagenet1k")
paper = dict(setting={"dataset": "ImageNet-1K"})
