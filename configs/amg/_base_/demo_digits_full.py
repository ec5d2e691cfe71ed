# AMG demo, full (`bench demo --full`): a pixel DDPM that really memorizes. The train stage fits a small ADM U-Net
# (our faithful guided/improved-diffusion UNetModel: 1 channel, 8x8, learned variance) with improved-diffusion's
# recipe (hybrid loss, cosine schedule, EMA) on scikit-learn digits in which 4 training images occur 100 times each
# (DigitsDuplicated: 1000 + 396 images), so plain sampling reproduces them. Every AMG demo config shares the trained
# model (only eval-only knobs differ) and the per-sample seeds. Memorization: nL2 of each sample to the training set
# deduplicated by AMG's greedy rule (nL2 < 1.4 = a copy); quality: the harness digits classifier's FID-style score
# against the ordinary digits train split (labelled digits_*, comparable only within the demo).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=500)
method = dict(
    type="AMGPixelSampler", respacing="250", clip_denoised=True, rounding="nearest", guidance=None,
    model_flags=dict(kind="diffusion", image_size=8, in_channels=1, model_channels=32, out_channels=2,
                     num_res_blocks=1, attention_resolutions=(2,), dropout=0.0, channel_mult=(1, 2), num_heads=1,
                     use_scale_shift_norm=True),
    diffusion=dict(steps=1000, noise_schedule="cosine", learn_sigma=True, rescale_timesteps=True),
    neighbours=dict(pool=dict(type="DigitsDuplicated", num_duplicated=4, copies=100, seed=0), dedup=1.0))
train = dict(dataset=dict(type="DigitsDuplicated", num_duplicated=4, copies=100, seed=0), epochs=60, batch_size=64,
             lr=2e-3, seed=0)
upstream = dict(classifier=dict(config="demo/harness_digits", product="checkpoint"))
task = dict(
    type="generation", extractor=dict(type="TrainedClassifierFeatures", method="upstream:classifier.method",
                                     checkpoint="upstream:classifier"),
    reference=dict(dataset=dict(type="Digits", split="train", split_seed=0)),
    neighbours=dict(pool=dict(type="DigitsDuplicated", num_duplicated=4, copies=100, seed=0), dedup=1.0),
    metrics=[dict(type="FID", prefix="digits_"),
             dict(type="CopySimilarity", column="nearest_train_nl2", tail="lower", thresholds=(1.4, 1.6),
                  only_label=None, prefix="nL2 "),
             dict(type="GuidanceActivity", prefix="guidance "), dict(type="SamplingCost", per_samples=500)],
    image_format="png")
run = dict(batch_size=250, device="cpu")
