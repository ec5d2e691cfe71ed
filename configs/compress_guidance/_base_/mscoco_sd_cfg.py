# MSCOCO Stable Diffusion CFG: 30,000 samples, one per caption of a 30k MSCOCO val caption file (one caption per
# line), from a local StableDiffusionPipeline folder with DDIM over 50 steps (the baseline guides all 50), scale 7.5,
# empty negative prompt. Which SD model, scale and k the paper used is unknown (the authors' script samples
# StableUnCLIP 2.1 small + the Karlo prior, which this loop does not cover); SD v1.5 here. The authors' COCO
# reference statistics are not public: build ours from the val2014 images center-cropped to 256 as ADM does:
#   bench reference data/coco/val2014 --center-crop 256 --out data/reference/mscoco_val2014_256.npz \
#     --weights checkpoints/inception/weights-inception-2015-12-05-6726825d.pth
# (generated 512x512 images and the 256x256 reference are both resized to 299 by the Inception extractor).
_base_ = ["./imagenet.py"]

dataset = dict(type="GenerationRequests", num_samples=30000, num_classes=None, labels="random",
               prompts_file="data/coco/captions_val2014_30k.txt")
method = dict(backbone=dict(type="stable_diffusion", model="checkpoints/stable_diffusion/stable-diffusion-v1-5",
                            scheduler="DDIMScheduler", dtype="fp16"),
              respacing="50", rounding="nearest",
              guidance=dict(type="cfg", scale=7.5, negative_prompt="", schedule=dict(kind="full")))
task = dict(image_format="png", reference="data/reference/mscoco_val2014_256.npz",
            metrics=[dict(type="FID"), dict(type="InceptionScore"), dict(type="SamplingCost", per_samples=30000)])
paper = dict(setting={"dataset": "MSCOCO", "model": "Stable Diffusion", "guidance": "CFG"},
             metrics=dict(_delete_=True, FID="FID", **{"guided steps": "guided steps"}))
run = dict(batch_size=16)
