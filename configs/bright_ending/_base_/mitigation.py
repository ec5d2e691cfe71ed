# Mitigation rows: one generation per memorized prompt (inference_mem.py --num_images_per_prompt 1) scored by SSCD
# similarity to the prompt's ground-truth training images (sscd_disc_large, Wen's Resize(256)/CenterCrop(224)/
# Normalize(0.5); max over gt_images/<index>/*.png) and CLIP score (open_clip ViT-g-14 laion2b_s12b_b42k, mean
# cosine). The ground truth is BE-PRSS's sdv1_500_mem_groundtruth/ (gt_images are not published: fetch each
# prompt's url into gt_images/<index>/; prompts without GT images are counted, not scored).
_base_ = ["./sd14.py"]

dataset = dict(type="MemorizedPrompts", name="memorized",
               prompts_file="data/memorization/sdv1_500_mem_groundtruth/sdv1_500_mem_groundtruth_repeated.jsonl")
method = dict(num_images=1, signals=("wen",))
task = dict(type="text_to_image_memorization", export_maps=0,
            similarity=dict(type="SSCDFeatures", weights="checkpoints/sscd/sscd_disc_large.torchscript.pt",
                            preprocessing="wen"),
            clip=dict(type="CLIPScoreFeatures", variant="wen",
                      checkpoint="checkpoints/open_clip/ViT-g-14-laion2b_s12b_b42k/open_clip_pytorch_model.bin"),
            metrics=[dict(type="CopySimilarity", prefix="SSCD "), dict(type="MeanCLIPScore")])
