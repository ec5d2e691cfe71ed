# Trident ViT-B/16 on VOC21 (official configs/cfg_voc21.py): test Resize (2048, 448), window stride 224.
_base_ = ["./_base_/trident_vitb16.py"]

dataset = dict(type="PascalVOC", data_root="data/VOCdevkit/VOC2012", with_image=True)
# The prompt vocabulary of the official cls_voc21.txt: the background class is queried as 26 stuff words
# (merged by max), and boat / diningtable are prompted as "ship" / "table".
__background_words = ["sky", "wall", "tree", "wood", "grass", "road", "sea", "river", "mountain", "sands", "desk",
                      "bed", "building", "cloud", "lamp", "door", "window", "wardrobe", "ceiling", "shelf", "curtain",
                      "stair", "floor", "hill", "rail", "fence"]
method = dict(class_names=dict(dataset="PascalVOC", background=__background_words,
                                rename=dict(boat="ship", diningtable="table")),
              settings=dict(short_side=448, slide_stride=224, prob_thd=0.2),
              refinement=dict(coarse_thresh=0.2))
paper = dict(setting=dict(backbone="CLIP ViT-B/16", method="Trident", dataset="VOC21"))
