# Trident ViT-B/16 on COCO-Stuff (official configs/cfg_coco_stuff164k.py): test Resize (2048, 448), window stride 224.
_base_ = ["./_base_/trident_vitb16.py"]

dataset = dict(type="COCOStuff164k", data_root="data/COCOStuff", with_image=True)
# The official cls_coco_stuff.txt writes multi-word names without spaces ("trafficlight").
method = dict(class_names=dict(dataset="COCOStuff164k", join_words=True),
              settings=dict(short_side=448, slide_stride=224),
              refinement=dict(coarse_thresh=0.05))
paper = dict(setting=dict(backbone="CLIP ViT-B/16", method="Trident", dataset="COCO-Stuff"))
