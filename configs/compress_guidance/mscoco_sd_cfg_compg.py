# MSCOCO Stable Diffusion with Compress Guidance: skip 8, k 2 over 50 steps puts 6 slots on 6 distinct steps
# (indices 49, 48, 44, 37, 27, 15) plus the last two: the paper's 8 guidance steps (its skip and k are not
# reported; this pair is chosen to give that count, and the table compares the measured count of guided steps).
_base_ = ["./_base_/mscoco_sd_cfg.py"]

method = dict(guidance=dict(schedule=dict(kind="compress", skip=8, k=2)))
paper = dict(setting={"method": "CompG"})
