# Baseline on FMB: SAM on the visible image only (same FMP training, no VQ, fusion or adapter).
_base_ = ["./_base_/fmb.py"]

method = dict(input="rgb", adapter=False)
paper = dict(setting=dict(method="SAM (RGB)"))
