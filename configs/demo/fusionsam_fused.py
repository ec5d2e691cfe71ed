# FusionSAM demo (quick profile), FusionSAM: the fused image + the adapter; the scenes, models
# and recipe of configs/fusionsam/_base_/demo_scenes.py (48 training scenes, 32 test scenes).
_base_ = ["../fusionsam/_base_/demo_scenes.py"]

method = dict(input="fused", adapter=True)
