# FusionSAM demo (quick profile), baseline: SAM on the visible image only; the scenes, models
# and recipe of configs/fusionsam/_base_/demo_scenes.py (48 training scenes, 32 test scenes).
_base_ = ["../fusionsam/_base_/demo_scenes.py"]

method = dict(input="rgb", adapter=False)
