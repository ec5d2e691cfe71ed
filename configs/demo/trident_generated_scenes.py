# Trident end to end (coarse splice-then-segment + SAM refinement) on generated scenes with tiny randomly
# initialised CLIP, DINO and SAM built from these settings: a SMOKE run of the code path, not a result.
_base_ = ["../_base_/default_run.py", "../_base_/tasks/segmentation.py"]

dataset = dict(type="GeneratedScenes", num_images=4, size=(64, 96), num_classes=3, seed=0)
method = dict(
    type="Trident",
    class_names="demo/trident_classes.txt",
    clip=dict(tiny=dict(embed_dim=16, vision_cfg=dict(image_size=32, layers=2, width=32, patch_size=8, head_width=16),
                        text_cfg=dict(context_length=16, vocab_size=49408, width=16, heads=2, layers=1))),
    dino=dict(tiny=dict(img_size=32, patch_size=8, embed_dim=24, depth=2, num_heads=2)),
    sam=dict(tiny=dict(img_size=64, embed_dim=32, depth=2, num_heads=2, out_chans=16, window_size=2)),
    # windows and thresholds scaled to the tiny patch size (8): crop 32, stride 16, short side 64
    settings=dict(short_side=64, slide_crop=32, slide_stride=16, window_pad=8, prob_thd=0.0),
    refinement=dict(coarse_thresh=0.2, minimal_area=4, sam_mask_coff=0.005, sam_iou_thresh=-1.0),
    precision="fp32",  # CPU
)
run = dict(batch_size=2, num_workers=0)
