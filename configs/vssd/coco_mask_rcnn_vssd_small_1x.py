# VSSD-Small Mask R-CNN 1x, official config `mask_rcnn_vssd_fpn_coco_small.py`,
# checkpoint mask_rcnn_vssd_fpn_coco_small.pth (Hugging Face YuhengSSS/VSSD). Needs the `seg` extra.
# No Small 3x config: its README link points to this 1x file, so the 3x weights (50.0 / 44.6) are not published.
_base_ = ["./_base_/mask_rcnn_coco.py"]

method = dict(
    checkpoint="checkpoints/vssd/mask_rcnn_vssd_fpn_coco_small.pth",
    model=dict(backbone=dict(
                   embed_dim=64, depths=(3, 4, 21, 5), num_heads=(2, 4, 8, 16), d_state=64, drop_path_rate=0.4),
               neck=dict(in_channels=[64, 128, 256, 512])))
paper = dict(setting=dict(dataset="COCO val2017", model="VSSD-Small", method="Mask R-CNN", setting="1x"))
