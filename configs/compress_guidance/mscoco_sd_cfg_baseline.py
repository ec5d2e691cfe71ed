# MSCOCO Stable Diffusion, the baseline: CFG at all 50 steps (the paper's 50 guidance steps).
_base_ = ["./_base_/mscoco_sd_cfg.py"]

paper = dict(setting={"method": "baseline"})
