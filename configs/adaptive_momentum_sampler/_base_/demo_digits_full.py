# AMS demo on scikit-learn's digits: a small DDPM (diffusers UNet2DModel, 8x8x1, linear betas 1e-4..0.02, T = 1000)
# trained here for real on the 1,000-image train split, sampled 1,000 times per sampler with per-sample seeds, and
# scored with FID-style statistics from the digits classifier of demo/harness_digits (its pre-logit features and
# logits; labelled digits_*, not Inception FID) against the same train split. The DDPM trains once (the train stage
# is keyed by the method's model and train sections) and every sampler config reuses it.
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=1000)
method = dict(
    type="DiffusionSampler",
    unet_config=dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(32, 64),
                     down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                     norm_num_groups=8),
    train_scheduler=dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02,
                         clip_sample=False),
    scheduler=dict(type="DDIMScheduler"), num_inference_steps=10)
train = dict(dataset=dict(type="Digits", split="train", split_seed=0), epochs=100, batch_size=64, lr=2e-3,
             weight_decay=0.0, seed=0)
upstream = dict(classifier=dict(config="demo/harness_digits", product="checkpoint"))
task = dict(
    type="generation", extractor=dict(type="TrainedClassifierFeatures", method="upstream:classifier.method",
                                     checkpoint="upstream:classifier"),
    reference=dict(dataset=dict(type="Digits", split="train", split_seed=0)),
    metrics=[dict(type="FID", prefix="digits_"), dict(type="InceptionScore", split_size=1000, prefix="digits_"),
             dict(type="PrecisionRecall", k=3, prefix="digits_"),
             dict(type="KID", subsets=100, subset_size=500, prefix="digits_")], image_format="png")
run = dict(batch_size=250)
