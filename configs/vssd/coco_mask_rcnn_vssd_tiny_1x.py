# VSSD-Tiny Mask R-CNN 1x, official config `mask_rcnn_vssd_fpn_coco_tiny.py`,
# checkpoint mask_rcnn_vssd_fpn_coco_tiny.pth (Hugging Face YuhengSSS/VSSD). Needs the `seg` extra.
_base_ = ["./_base_/mask_rcnn_coco.py"]

method = dict(
    checkpoint="checkpoints/vssd/mask_rcnn_vssd_fpn_coco_tiny.pth",
    model=dict(backbone=dict(
                   embed_dim=64, depths=(2, 4, 8, 4), num_heads=(2, 4, 8, 16), d_state=64, drop_path_rate=0.2),
               neck=dict(in_channels=[64, 128, 256, 512])))
paper = dict(setting=dict(dataset="COCO val2017", model="VSSD-Tiny", method="Mask R-CNN", setting="1x"))
