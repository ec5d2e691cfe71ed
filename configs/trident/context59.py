# Trident ViT-B/16 on Context59 (official configs/cfg_context59.py): test Resize (2048, 576), window stride 224.
_base_ = ["./_base_/trident_vitb16.py"]

dataset = dict(type="PascalContext59", data_root="data/VOCdevkit/VOC2010", with_image=True)
# The official cls_context59.txt prompts the dataset's own names.
method = dict(class_names=dict(dataset="PascalContext59"),
              settings=dict(short_side=576, slide_stride=224),
              refinement=dict(coarse_thresh=0.15))
paper = dict(setting=dict(backbone="CLIP ViT-B/16", method="Trident", dataset="Context59"))
