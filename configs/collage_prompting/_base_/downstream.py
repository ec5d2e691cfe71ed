# One of the paper's ten downstream sets (the CoOp family): its test split arranged as class folders under
# data/collage_prompting/<dataset>/test/<class name>/ (bench.datasets.class_folders); the prompt's categories are the
# same folder names. Which split and class-name spelling the paper used is unknown.
_base_ = ["./online.py"]

dataset = dict(type="CollageGroups", grid=2, seed=0,
               source=dict(type="ClassFolderImages", root=None, resize=512, crop_size=512))
