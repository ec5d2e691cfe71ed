# Trident ViT-B/16 on ADE20K (official configs/cfg_ade20k.py): test Resize (2048, 576), window stride 224.
_base_ = ["./_base_/trident_vitb16.py"]

dataset = dict(type="ADE20K", data_root="data/ADEChallengeData2016", with_image=True)
# The official cls_ade20k.txt writes multi-word names without spaces ("chestofdrawers").
method = dict(class_names=dict(dataset="ADE20K", join_words=True),
              settings=dict(short_side=576, slide_stride=224, refine_neg_cos=False),
              refinement=dict(coarse_thresh=0.05))
paper = dict(setting=dict(backbone="CLIP ViT-B/16", method="Trident", dataset="ADE20K"))
