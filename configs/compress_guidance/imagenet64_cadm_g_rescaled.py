# Reviewers' "rescaled-s" baseline: Compress Guidance's steps (skip 5, k 5), each at s * (total weight / guided
# steps), the same total guidance spread evenly instead of by collision counts. Not a paper row.
_base_ = ["./_base_/imagenet64_cadm_g.py"]

method = dict(guidance=dict(variant="rescaled", schedule=dict(kind="compress", skip=5, k=5)))
paper = dict(setting={"method": "same steps, rescaled s"})
