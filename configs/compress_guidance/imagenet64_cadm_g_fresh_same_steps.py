# Reviewers' baseline: a fresh gradient at the same steps as Compress Guidance (skip 5, k 5) at unit weight, i.e.
# without merging collided slots into heavier steps. Not a paper row.
_base_ = ["./_base_/imagenet64_cadm_g.py"]

method = dict(guidance=dict(variant="unit", schedule=dict(kind="compress", skip=5, k=5)))
paper = dict(setting={"method": "same steps, unit weight"})
