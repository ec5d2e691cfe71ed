# Trident ViT-B/16 on COCO-Object (official configs/cfg_coco_object.py): test Resize (2048, 448), window stride 224.
_base_ = ["./_base_/trident_vitb16.py"]

dataset = dict(type="COCOObject", data_root="data/COCOObject", with_image=True)
# The prompt vocabulary of the official cls_coco_object.txt: the background class is queried as 17 stuff words
# (merged by max); thing names keep their spaces.
__background_words = ["sky", "wall", "tree", "wood", "grass", "road", "sea", "river", "mountain", "sands", "desk",
                      "bed", "building", "cloud", "floor", "hill", "rail"]
method = dict(class_names=dict(dataset="COCOObject", background=__background_words),
              settings=dict(short_side=448, slide_stride=224, prob_thd=0.25),
              refinement=dict(coarse_thresh=0.25))
paper = dict(setting=dict(backbone="CLIP ViT-B/16", method="Trident", dataset="COCO-Object"))
