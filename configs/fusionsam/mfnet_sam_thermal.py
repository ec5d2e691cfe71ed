# Baseline on MFNet: SAM on the thermal image only (repeated to 3 channels; same FMP training).
_base_ = ["./_base_/mfnet.py"]

method = dict(input="thermal", adapter=False)
paper = dict(setting=dict(method="SAM (thermal)"))
