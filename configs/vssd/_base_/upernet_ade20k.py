# VSSD + UperNet on ADE20K val (2,000 images), evaluated as the official segmentation code does (mmseg 1.2.2):
# the Swin-T UperNet config (`swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py` on
# `_base_/models/upernet_swin.py`) with the MM_VSSD backbone, ReLU(inplace=False) heads, 150 classes,
# `test_cfg mode='whole'`, test Resize (2048, 512) keep-ratio. Needs the `seg` extra (README "Segmentation stack").
# Leaves set the backbone shape, the head widths, the checkpoint and the table setting.
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/segmentation.py"]

dataset = dict(type="ADE20K", data_root="data/ade/ADEChallengeData2016", split="validation",
               with_image=False)  # mmseg's pipeline decodes img_path itself (cv2, BGR)
method = dict(
    type="MMSegSegmentor",
    imports=["bench.methods.vssd.dense"],  # registers MM_VSSD in mmseg's MODELS
    checkpoint=None,
    model=dict(
        type="EncoderDecoder",
        data_preprocessor=dict(type="SegDataPreProcessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                               bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(512, 512)),
        pretrained=None,
        backbone=dict(type="MM_VSSD", out_indices=(0, 1, 2, 3), pretrained=None,  # the full checkpoint has it
                      simple_downsample=False, simple_patch_embed=False, ssd_expand=2, ssd_chunk_size=256,
                      linear_attn_duality=True, attn_types=["mamba2", "mamba2", "mamba2", "standard"],
                      bidirection=False, ssd_positve_dA=True),
        decode_head=dict(type="UPerHead", in_index=[0, 1, 2, 3], pool_scales=(1, 2, 3, 6), channels=512,
                         dropout_ratio=0.1, num_classes=150, norm_cfg=dict(type="SyncBN", requires_grad=True),
                         align_corners=False, act_cfg=dict(type="ReLU", inplace=False),
                         loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=1.0)),
        auxiliary_head=dict(type="FCNHead", in_index=2, channels=256, num_convs=1, concat_input=False,
                            dropout_ratio=0.1, num_classes=150, norm_cfg=dict(type="SyncBN", requires_grad=True),
                            align_corners=False, act_cfg=dict(type="ReLU", inplace=False),
                            loss_decode=dict(type="CrossEntropyLoss", use_sigmoid=False, loss_weight=0.4)),
        train_cfg=dict(),
        test_cfg=dict(mode="whole"),
    ),
    # mmseg's ADE20K test_pipeline without LoadAnnotations (labels come from the dataset reader)
    test_pipeline=[dict(type="LoadImageFromFile"), dict(type="Resize", scale=(2048, 512), keep_ratio=True),
                   dict(type="PackSegInputs")],
    # mIoU (MS): the VSSD repo's edited TTA, 3 ratios x flip; unlike mmseg's stock `scale_factor=r` (6 ratios of
    # the original size) it scales the test scale: Resize((int(2048 r), int(512 r)), keep_ratio) for r in
    # (0.75, 1.0, 1.25). Scores are averaged after softmax by mmseg's SegTTAModel.
    tta_pipeline=[
        dict(type="LoadImageFromFile"),
        dict(type="TestTimeAug", transforms=[
            [dict(type="Resize", scale=(1536, 384), keep_ratio=True),
             dict(type="Resize", scale=(2048, 512), keep_ratio=True),
             dict(type="Resize", scale=(2560, 640), keep_ratio=True)],
            [dict(type="RandomFlip", prob=0.0, direction="horizontal"),
             dict(type="RandomFlip", prob=1.0, direction="horizontal")],
            [dict(type="PackSegInputs")],
        ]),
    ],
    tta=False,
)
run = dict(batch_size=8, num_workers=4)
paper = dict(slug="vssd", table="ade20k_upernet", metrics={"mIoU (SS)": dict(key="mIoU", scale=100)})
