# DPMs-ANT digits demo (shared pieces): transfer a DDPM trained on plain digits to upside-down digits from 10 images.
#
# Source: the AMS quick demo's DDPM (diffusers UNet2DModel, 8x8x1, channels 16/32 with attention, linear betas
# 1e-4..0.02, T = 1000: the official noise process), trained on the 1,000 plain training digits; reached through an
# upstream, so `bench demo` trains it once for both papers. Target: 10 upside-down training digits (DigitsDomain
# rot180, shot_seed 0); the full target set is all 1,000 upside-down training digits. A model of plain digits never
# draws an upside-down 2, 4 or 7, so the shift is visible. Stage 1 (demo/dpms_ant_0_classifier) trains the domain
# classifier. Sampling: the official generalised step (eta = 1), 100 uniformly skipped steps instead of 500.
# Scores (labelled, comparable only within the demo): the harness digits classifier's FID-style score against the
# full target set (digits_FID), and an intra-cluster diversity in the spirit of Intra-LPIPS with that classifier's
# pooled features as the distance (LPIPS's VGG sees nothing at 8 x 8).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=200)
method = dict(
    type="DpmsAnt", source="upstream:source", ablation="ant",
    classifier=dict(checkpoint="upstream:classifier",
                    network=dict(flags=dict(image_size=8, in_channels=1, model_channels=32, out_channels=2,
                                            num_res_blocks=1, attention_resolutions=(), channel_mult=(1, 2),
                                            pool="adaptive"))),
    preset="official", adaptor=dict(dim=8), sample_steps=100,
    # the official preset at demo scale: batch 10 (every target image once), 60 iterations with the cosine over
    # them and a 6-iteration warm-up; lr 1e-3 instead of 1e-4 (a few dozen steps, not 321); no fp16 on CPU
    settings=dict(lr=1e-3, iterations=60, schedule_iterations=60, warmup_iterations=6, warmup_lr=1e-4, min_lr=5e-4,
                  batch_size=10, fp16=False, checkpoint_every=20))
train = dict(dataset=dict(type="DigitsDomain", split="train", transform="rot180", num_images=10, shot_seed=0))
upstream = dict(source=dict(config="demo/adaptive_momentum_sampler_ddim10", product="checkpoint"),
                classifier=dict(config="demo/dpms_ant_0_classifier", product="checkpoint"),
                digits=dict(config="demo/harness_digits", product="checkpoint"))
task = dict(
    type="generation",
    extractor=dict(type="TrainedClassifierFeatures", method="upstream:digits.method", checkpoint="upstream:digits"),
    reference=dict(dataset=dict(type="DigitsDomain", split="train", transform="rot180")),
    metrics=[dict(type="FID", prefix="digits_"),
             dict(type="IntraLPIPS", cluster_size=50, prefix="digits_",
                  centres=dict(type="DigitsDomain", split="train", transform="rot180", num_images=10, shot_seed=0),
                  distance=dict(type="features",
                                extractor=dict(type="TrainedClassifierFeatures", method="upstream:digits.method",
                                               checkpoint="upstream:digits")))],
    image_format="png")
run = dict(batch_size=200, device="cpu")
