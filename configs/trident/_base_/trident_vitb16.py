# Trident with CLIP ViT-B/16 (OpenAI), DINO ViT-B/16 and SAM ViT-B, SAM refinement on (the paper's numbers use
# it: the official dist_test.sh always passes --sam_refine), as configs/base_config.py of YuHengsss/Trident.
# Local files (nothing is downloaded):
#   checkpoints/trident/ViT-B-16-openai/open_clip_pytorch_model.bin   (open_clip state dict of ViT-B-16 'openai')
#   checkpoints/trident/dino_vitbase16_pretrain.pth
#   checkpoints/trident/sam_vit_b_01ec64.pth
# Leaves set the dataset, its prompt vocabulary (`class_names`: how the official cls_<dataset>.txt words the
# dataset's classes), the test short side S, the window stride, the per-dataset overrides and the cell.
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/segmentation.py"]

method = dict(
    type="Trident",
    # `tag` names the open_clip weights the file holds; it fixes the activation (OpenAI's CLIPs use QuickGELU)
    clip=dict(model_name="ViT-B-16", tag="openai",
              checkpoint="checkpoints/trident/ViT-B-16-openai/open_clip_pytorch_model.bin"),
    dino=dict(checkpoint="checkpoints/trident/dino_vitbase16_pretrain.pth"),
    sam=dict(model_type="vit_b", checkpoint="checkpoints/trident/sam_vit_b_01ec64.pth"),
    settings=dict(short_side=448, slide_crop=336, slide_stride=224, beta=1.2, gamma=3.0, cos_fac=1.2,
                  refine_neg_cos=True, logit_scale=40.0, prob_thd=0.0),
    refinement=dict(coarse_thresh=0.2, minimal_area=225, sam_mask_coff=0.005, sam_iou_thresh=0.8),
    precision="fp16",  # what each stage runs in: the official layout (bench.methods.trident.precision)
)
run = dict(batch_size=1, num_workers=4)
paper = dict(slug="trident", table="main", metrics={"mIoU": dict(key="mIoU", scale=100)})
