# Shared settings of the Compress Guidance ImageNet rows: 50,000 class-conditional samples (classes drawn uniformly
# from each sample's seed, as guided-diffusion draws them at random), 250 respaced ancestral steps, images exported
# as guided-diffusion's samples_50000xHxWx3.npz (arr_0 images, arr_1 labels), scored with the TF-compatible
# Inception-v3 (torch-fidelity's port of the evaluator's graph, from a local weight file whose sha256 is recorded)
# against the precomputed mu/sigma (FID) and mu_s/sigma_s (sFID) of guided-diffusion's VIRTUAL reference batch; its
# 10k images serve precision/recall only (as in guided-diffusion's evaluator). SamplingCost records the guidance
# steps, classifier passes, extra forwards and the wall time (GPU-hours per 50k when sampled on a GPU).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=50000, num_classes=1000, labels="random")
method = dict(type="CompressGuidanceSampler", respacing="250", clip_denoised=True, rounding="guided_diffusion")
task = dict(type="generation", image_format="npz",
            extractor=dict(type="InceptionV3Features",
                           weights="checkpoints/inception/weights-inception-2015-12-05-6726825d.pth"),
            metrics=[dict(type="FID"), dict(type="SFID"), dict(type="InceptionScore"), dict(type="PrecisionRecall"),
                     dict(type="SamplingCost", per_samples=50000)])
# "guided steps" is the paper's count: the schedule's budget steps without the two final steps it always guides
paper = dict(slug="compress_guidance", table="main",
             metrics={"FID": "FID", "sFID": "sFID", "IS": "IS", "Precision": "precision", "Recall": "recall",
                      "GPU-h": "GPU-h", "guided steps": "slot steps"})
run = dict(seed=0, batch_size=64)
