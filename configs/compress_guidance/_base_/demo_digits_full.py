# Compress Guidance demo on scikit-learn's digits. The base model is the AMS demo's unconditional DDPM (a 701k
# diffusers UNet2DModel on 8x8x1 digits, linear betas, T = 1000, fixed-small variance), that config's trained
# pipeline (upstream ddpm); it becomes class-conditional through a small noisy ADM classifier (our faithful
# EncoderUNet, attention pool) that this config's train stage fits on x_t of the same process. 500 samples with
# random labels, 250 respaced ancestral steps, per-sample seeds shared by every guidance schedule. Scores: the
# independent digits classifier of demo/harness_digits gives the off-sampling accuracy and the FID/KID-style
# statistics (labelled digits_*), the guiding classifier at t = 0 the on-sampling accuracy, SamplingCost the
# guidance steps and classifier passes.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=500, num_classes=10, labels="random")
method = dict(
    type="CompressGuidanceSampler", respacing="250", clip_denoised=True, rounding="nearest",
    backbone=dict(type="diffusers_unet", model="upstream:ddpm"),
    classifier=dict(flags=dict(kind="classifier", image_size=8, in_channels=1, model_channels=32, out_channels=10,
                               num_res_blocks=1, attention_resolutions=(2,), channel_mult=(1, 2), num_head_channels=16,
                               use_scale_shift_norm=True, resblock_updown=True, pool="attention")),
    guidance=dict(type="classifier", scale=4.0, variant="compress", schedule=dict(kind="full")))
train = dict(dataset=dict(type="Digits", split="train", split_seed=0), epochs=60, batch_size=64, lr=2e-3,
             weight_decay=0.0, seed=0)
upstream = dict(classifier=dict(config="demo/harness_digits", product="checkpoint"),
                ddpm=dict(config="demo/full/adaptive_momentum_sampler_ddim10", product="checkpoint"))
task = dict(
    type="generation", extractor=dict(type="TrainedClassifierFeatures", method="upstream:classifier.method",
                                     checkpoint="upstream:classifier"),
    reference=dict(dataset=dict(type="Digits", split="train", split_seed=0)),
    metrics=[dict(type="FID", prefix="digits_"), dict(type="KID", subsets=100, subset_size=500, prefix="digits_"),
             dict(type="ClassAccuracy", prefix="digits_"), dict(type="GuideAccuracy"),
             dict(type="SamplingCost", per_samples=500)], image_format="png")
run = dict(batch_size=250)
