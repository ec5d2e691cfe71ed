# OpenCLIP ViT-H/14 (laion2b_s32b_b79k) variant of ../coco_object.py; windows and short side unchanged (336 = 24 x 14).
# The SAM size behind the paper's ViT-H row is unknown (the code default, vit_b, is kept).
_base_ = ["../coco_object.py"]

method = dict(clip=dict(model_name="ViT-H-14", tag="laion2b_s32b_b79k",
                        checkpoint="checkpoints/trident/ViT-H-14-laion2b_s32b_b79k/open_clip_pytorch_model.bin"))
paper = dict(setting=dict(backbone="OpenCLIP ViT-H/14"))
