# VSSD demo peer: a timm ViT of about the same size (0.46M parameters): patch 4, embed 96, depth 4, 3 heads.
_base_ = ["../../vssd/_base_/demo_digits32.py"]

method = dict(model_name="vit_tiny_patch16_224",
              model_kwargs=dict(img_size=32, patch_size=4, embed_dim=96, depth=4, num_heads=3))
