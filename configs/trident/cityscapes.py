# Trident ViT-B/16 on Cityscapes (official configs/cfg_city_scapes.py): test Resize (2048, 688), window stride 224.
_base_ = ["./_base_/trident_vitb16.py"]

dataset = dict(type="Cityscapes", data_root="data/CityScapes", with_image=True)
# The official cls_city_scapes.txt writes multi-word names without spaces ("trafficlight").
method = dict(class_names=dict(dataset="Cityscapes", join_words=True),
              settings=dict(short_side=688, slide_stride=224, cos_fac=3.0, refine_neg_cos=False, sam_per_half=True),
              refinement=dict(coarse_thresh=0.1))
paper = dict(setting=dict(backbone="CLIP ViT-B/16", method="Trident", dataset="Cityscapes"))
