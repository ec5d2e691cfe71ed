# Detection on zeroscope v2 576w (cerspense/zeroscope_v2_576w, the same pipeline class; its intended size 576x320).
_base_ = ["./_base_/detection.py"]

method = dict(model="checkpoints/zeroscope_v2_576w", sampling=dict(height=320, width=576))
