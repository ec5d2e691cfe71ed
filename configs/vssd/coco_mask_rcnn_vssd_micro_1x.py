# VSSD-Micro Mask R-CNN 1x, official config `mask_rcnn_vssd_fpn_coco_micro.py`,
# checkpoint mask_rcnn_vssd_fpn_coco_micro.pth (Hugging Face YuhengSSS/VSSD). Needs the `seg` extra.
_base_ = ["./_base_/mask_rcnn_coco.py"]

method = dict(
    checkpoint="checkpoints/vssd/mask_rcnn_vssd_fpn_coco_micro.pth",
    model=dict(backbone=dict(
                   embed_dim=48, depths=(2, 2, 8, 4), num_heads=(2, 4, 8, 16), d_state=48, drop_path_rate=0.1),
               neck=dict(in_channels=[48, 96, 192, 384])))
paper = dict(setting=dict(dataset="COCO val2017", model="VSSD-Micro", method="Mask R-CNN", setting="1x"))
