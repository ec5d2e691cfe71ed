# AMG pixel branch, Table 2: OpenAI improved-diffusion's unconditional CIFAR-10 model (cifar10_uncond_50M_500K.pt:
# learn_sigma, cosine schedule, 4000 steps respaced to 250 ancestral steps, timestep rescaling; the preset carries
# the README's flags), 10,000 samples (the code samples serially, batch 1; per-sample seeds make batching
# irrelevant here). Memorization: nL2 of every sample to the CIFAR-10 training set deduplicated by AMG's greedy rule
# (scripts/data.py: drop an image whose own nL2 < 1.0; the code's dat_new_100.pt is not shipped, so it is rebuilt
# and cached with its sha256), k = 50, alpha = 0.5; the same pool guides. FID@10k with the TF-compatible
# Inception-v3 against the 50,000 training images (AMG pinned torch-fidelity 0.3.0; our 0.4.0 computes FID with the
# same formula and Inception port: README "Generation").
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=10000)
method = dict(
    type="AMGPixelSampler", respacing="250", clip_denoised=True, rounding="guided_diffusion",
    backbone=dict(type="adm", checkpoint="checkpoints/improved_diffusion/cifar10_uncond_50M_500K.pt"),
    neighbours=dict(pool=dict(type="CIFAR10", root="data/cifar10", split="train_full"), dedup=1.0))
task = dict(
    type="generation", image_format="npz",
    extractor=dict(type="InceptionV3Features",
                   weights="checkpoints/inception/weights-inception-2015-12-05-6726825d.pth"),
    reference=dict(dataset=dict(type="CIFAR10", root="data/cifar10", split="train_full")),
    neighbours=dict(pool=dict(type="CIFAR10", root="data/cifar10", split="train_full"), dedup=1.0),
    metrics=[dict(type="FID"),
             dict(type="CopySimilarity", column="nearest_train_nl2", tail="lower", thresholds=(1.4, 1.6),
                  only_label=None, prefix="nL2 "),
             dict(type="GuidanceActivity", prefix="guidance "), dict(type="SamplingCost", per_samples=10000)])
paper = dict(slug="amg", table="main_cifar10_uncond",
             metrics={"nL2 Top5%": "nL2 p5", "nL2 Top1": "nL2 min",
                      "% nL2<1.4": dict(key="nL2 <1.4", scale=100), "% nL2<1.6": dict(key="nL2 <1.6", scale=100),
                      "FID": "FID"},
             setting={"dataset": "CIFAR-10", "model": "iDDPM (unconditional)", "method": "iDDPM"})
run = dict(batch_size=100)
