# Trident ViT-B/16 on VOC20 (official configs/cfg_voc20.py): test Resize (2048, 336), window stride 112.
_base_ = ["./_base_/trident_vitb16.py"]

dataset = dict(type="PascalVOC20", data_root="data/VOCdevkit/VOC2012", with_image=True)
# The prompt vocabulary of the official cls_voc20.txt: boat / diningtable are prompted as "ship" / "table".
method = dict(class_names=dict(dataset="PascalVOC20", rename=dict(boat="ship", diningtable="table")),
              settings=dict(short_side=336, slide_stride=112, cos_fac=0.0),
              refinement=dict(coarse_thresh=0.2))
paper = dict(setting=dict(backbone="CLIP ViT-B/16", method="Trident", dataset="VOC20"))
