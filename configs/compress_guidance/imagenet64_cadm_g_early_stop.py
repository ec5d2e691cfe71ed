# Naive baseline, early stopping (ES): guide the first 50 of 250 steps only (the authors' script's
# `int(t / 4) + 1 >= 200` guides 51; steps=51 reproduces it). Not a row of the paper's tables.
_base_ = ["./_base_/imagenet64_cadm_g.py"]

method = dict(guidance=dict(schedule=dict(kind="early_stop", steps=50)))
paper = dict(setting={"method": "ES"})
