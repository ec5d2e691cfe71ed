# VSSD demo peer: a timm ConvNeXt of about the same size (0.59M parameters): dims 24/48/96/192, depths 1/1/2/1.
_base_ = ["../../vssd/_base_/demo_digits32.py"]

method = dict(model_name="convnext_atto", model_kwargs=dict(dims=[24, 48, 96, 192], depths=[1, 1, 2, 1]))
