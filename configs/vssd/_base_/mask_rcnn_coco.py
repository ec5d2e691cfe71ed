# VSSD + Mask R-CNN (FPN) on COCO val2017 (5,000 images), evaluated as the official detection code does (mmdet
# 3.3.0): mmdet's `mask-rcnn_r50_fpn.py` model with the MM_VSSD backbone (the Swin-T config it inherits from only
# swaps the backbone and the neck widths), test Resize (1333, 800) keep-ratio, box and mask mAP from
# `CocoMetric`'s protocol. The 1x and 3x schedules differ only in training, so leaves set the backbone shape, the
# neck widths, the checkpoint and the table setting. Needs the `seg` extra (README "Segmentation stack").
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="COCOInstances", data_root="data/coco", split="val2017")
task = dict(type="detection", metrics=[dict(type="COCOMeanAP", ann_file="data/coco/annotations/instances_val2017.json",
                                            iou_types=["bbox", "segm"])])
method = dict(
    type="MMDetDetector",
    imports=["bench.methods.vssd.dense"],  # registers MM_VSSD in mmdet's MODELS
    checkpoint=None,
    model=dict(
        type="MaskRCNN",
        data_preprocessor=dict(type="DetDataPreprocessor", mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_mask=True, pad_size_divisor=32),
        backbone=dict(type="MM_VSSD", out_indices=(0, 1, 2, 3), pretrained=None,  # the full checkpoint has it
                      simple_downsample=False, simple_patch_embed=False, ssd_expand=2, ssd_chunk_size=256,
                      linear_attn_duality=True, attn_types=["mamba2", "mamba2", "mamba2", "standard"],
                      bidirection=False, ssd_positve_dA=True),
        neck=dict(type="FPN", out_channels=256, num_outs=5),
        rpn_head=dict(
            type="RPNHead", in_channels=256, feat_channels=256,
            anchor_generator=dict(type="AnchorGenerator", scales=[8], ratios=[0.5, 1.0, 2.0],
                                  strides=[4, 8, 16, 32, 64]),
            bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0, 0.0, 0.0, 0.0],
                            target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=True, loss_weight=1.0),
            loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
        roi_head=dict(
            type="StandardRoIHead",
            bbox_roi_extractor=dict(type="SingleRoIExtractor",
                                    roi_layer=dict(type="RoIAlign", output_size=7, sampling_ratio=0),
                                    out_channels=256, featmap_strides=[4, 8, 16, 32]),
            bbox_head=dict(type="Shared2FCBBoxHead", in_channels=256, fc_out_channels=1024, roi_feat_size=7,
                           num_classes=80,
                           bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0, 0.0, 0.0, 0.0],
                                           target_stds=[0.1, 0.1, 0.2, 0.2]),
                           reg_class_agnostic=False,
                           loss_cls=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0),
                           loss_bbox=dict(type="L1Loss", loss_weight=1.0)),
            mask_roi_extractor=dict(type="SingleRoIExtractor",
                                    roi_layer=dict(type="RoIAlign", output_size=14, sampling_ratio=0),
                                    out_channels=256, featmap_strides=[4, 8, 16, 32]),
            mask_head=dict(type="FCNMaskHead", num_convs=4, in_channels=256, conv_out_channels=256, num_classes=80,
                           loss_mask=dict(type="CrossEntropyLoss", use_mask=True, loss_weight=1.0))),
        train_cfg=None,  # evaluation only; the official training settings are mmdet's mask-rcnn_r50_fpn.py
        test_cfg=dict(
            rpn=dict(nms_pre=1000, max_per_img=1000, nms=dict(type="nms", iou_threshold=0.7), min_bbox_size=0),
            rcnn=dict(score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5), max_per_img=100,
                      mask_thr_binary=0.5)),
    ),
    # mmdet's COCO test_pipeline without LoadAnnotations (ground truth stays in the annotation file)
    test_pipeline=[dict(type="LoadImageFromFile"), dict(type="Resize", scale=(1333, 800), keep_ratio=True),
                   dict(type="PackDetInputs", meta_keys=("img_path", "ori_shape", "img_shape", "scale_factor"))],
)
run = dict(batch_size=8, num_workers=4)
paper = dict(slug="vssd", table="coco_mask_rcnn",
             metrics={"box mAP": dict(key="bbox_mAP", scale=100), "mask mAP": dict(key="segm_mAP", scale=100)})
