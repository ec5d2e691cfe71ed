# AMG text-conditional branch (Tables 1 and 4): Stable Diffusion v1.4 from a local diffusers folder, DDIM 50 steps,
# eta 0, CFG 7.5, 512x512. AMG's prompt list and sample counts are unknown (supplementary) and the LAION-5B kNN
# service it queried is closed, so these rows run on a proxy: the 500 memorized prompts of Wen et al.
# (sdv1_500_mem_groundtruth, one generation each, seeds gen_seed + row) against a local reference index built from
# a captioned image folder in img2dataset's "files" layout (data/memorization/amg_reference: e.g. the prompts'
# ground-truth images fetched from their urls, with captions, or a LAION subset). Guidance queries it with CLIP
# ViT-L/14 (openai, AMG's jit model) image embeddings (1000 neighbours, FAISS exact search) and picks n0 by SSCD
# (sscd_disc_mixup, AMG's pipeline: 224x224 bilinear, no normalisation, raw dot product). Evaluation measures each
# generation's SSCD to its nearest image of the same folder (max over the folder: AMG's eval takes the SSCD argmax
# over 1000 CLIP neighbours, the same when the folder has at most 1000 images) and CLIP score x100 with ViT-L/14.
# FID: TF-Inception features of the 500 generations against the same reference folder (AMG's LAION FID reference set
# and sample count are unknown). Every row carries setting reference="proxy (local index)", so no proxy number is
# compared with the paper's LAION numbers.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="MemorizedPrompts", name="memorized",
               prompts_file="data/memorization/sdv1_500_mem_groundtruth/sdv1_500_mem_groundtruth.jsonl")
method = dict(
    type="AMGTextSampler", model="checkpoints/stable-diffusion-v1-4", num_images=1, gen_seed=0,
    num_inference_steps=50, cfg_scale=7.5,
    reference=dict(folder="data/memorization/amg_reference",
                   retrieval=dict(type="CLIPScoreFeatures", variant="amg",
                                  checkpoint="checkpoints/clip/ViT-L-14.pt"),
                   similarity=dict(type="SSCDFeatures", weights="checkpoints/sscd/sscd_disc_mixup.torchscript.pt",
                                   preprocessing="amg_tensor")))
task = dict(
    type="text_to_image_memorization", export_maps=0,
    similarity=dict(type="SSCDFeatures", weights="checkpoints/sscd/sscd_disc_mixup.torchscript.pt",
                    preprocessing="amg_tensor"),
    clip=dict(type="CLIPScoreFeatures", variant="amg", checkpoint="checkpoints/clip/ViT-L-14.pt"),
    train_reference=dict(type="CaptionedImageFolder", root="data/memorization/amg_reference"),
    fid=dict(extractor=dict(type="InceptionV3Features",
                            weights="checkpoints/inception/weights-inception-2015-12-05-6726825d.pth"),
             reference=dict(dataset=dict(type="CaptionedImageFolder", root="data/memorization/amg_reference"))),
    metrics=[dict(type="CopySimilarity", column="nearest_train_similarity", thresholds=(0.5, 0.4), only_label=None,
                  prefix="SSCD "),
             dict(type="MeanCLIPScore"), dict(type="FID"), dict(type="GuidanceActivity", prefix="guidance ")])
paper = dict(slug="amg", table="main_sd_laion",
             metrics={"SSCD Top5%": "SSCD p95", "SSCD Top1": "SSCD max",
                      "% SSCD>0.5": dict(key="SSCD >0.5", scale=100), "% SSCD>0.4": dict(key="SSCD >0.4", scale=100),
                      "FID": "FID", "CLIP score": "CLIP score"},
             setting={"dataset": "LAION-5B prompts", "model": "SD v1.4", "method": "SD",
                      "reference": "proxy (local index)"})
run = dict(batch_size=4)
