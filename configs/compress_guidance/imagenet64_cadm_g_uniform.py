# Naive baseline, uniform skipping (UG): every 5th step plus the last two, unit weight. Not a paper row.
_base_ = ["./_base_/imagenet64_cadm_g.py"]

method = dict(guidance=dict(schedule=dict(kind="uniform", skip=5)))
paper = dict(setting={"method": "UG"})
