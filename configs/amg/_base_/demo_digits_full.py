# AMG demo, full (`bench demo --full`): a pixel DDPM that really memorizes. The train stage fits a small ADM U-Net
# (our faithful guided/improved-diffusion UNetModel: 1 channel, 8x8, learned variance, 705k parameters) with
# improved-diffusion's recipe (hybrid loss, cosine schedule, EMA) on scikit-learn digits in which 4 of 400 training
# images occur 150 times each (DigitsDuplicated: 400 + 596 images), so plain sampling reproduces them. Every AMG
# demo config shares the trained model (only eval-only knobs differ) and the per-sample seeds.
#
# Memorization: nL2 of each sample to the training set deduplicated by AMG's greedy rule (996 -> 345 images). The
# paper's thresholds do not transfer to 8x8 digits: against this pool nL2 < 1.4 flags 88% of the 500 held-out test
# digits the model never saw (their nL2: min 0.479, 5th percentile 0.773; 1 of 500 below 0.5), while planted images
# with noise of std 0.1 stay below 0.41 (measured, datasets/memorization_digits.py). So a copy here is nL2 < 0.5
# (the paper's 1.4 and 1.6 are reported too), and guidance uses the official schedule's shape rescaled to it:
# trigger 0.5 (the code's 1.5), lambda_t from 0.65 down to 0.5 (the code's 1.95 down to 1.5), c3 as the code
# (1000 x 80). Quality: the harness digits classifier's FID-style score against the ordinary digits train split
# (labelled digits_*, comparable only within the demo).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="GenerationRequests", num_samples=500)
method = dict(
    type="AMGPixelSampler", respacing="250", clip_denoised=True, rounding="nearest",
    model_flags=dict(kind="diffusion", image_size=8, in_channels=1, model_channels=32, out_channels=2,
                     num_res_blocks=1, attention_resolutions=(), dropout=0.0, channel_mult=(1, 2), num_heads=1,
                     use_scale_shift_norm=True),
    diffusion=dict(steps=1000, noise_schedule="cosine", learn_sigma=True, rescale_timesteps=True),
    neighbours=dict(pool=dict(type="DigitsDuplicated", num_duplicated=4, copies=150, train_size=400, seed=0),
                    dedup=1.0))
# improved-diffusion's recipe at demo scale: lr 2e-3 instead of 1e-4, batch 32 instead of 128, EMA 0.99 instead
# of 0.9999 (about a thousand steps, not 500k)
train = dict(dataset=dict(type="DigitsDuplicated", num_duplicated=4, copies=150, train_size=400, seed=0), epochs=40,
             batch_size=32, lr=2e-3, ema_rate=0.99, seed=0)
upstream = dict(classifier=dict(config="demo/harness_digits", product="checkpoint"))
task = dict(
    type="generation", extractor=dict(type="TrainedClassifierFeatures", method="upstream:classifier.method",
                                     checkpoint="upstream:classifier"),
    reference=dict(dataset=dict(type="Digits", split="train", split_seed=0)),
    neighbours=dict(pool=dict(type="DigitsDuplicated", num_duplicated=4, copies=150, train_size=400, seed=0),
                    dedup=1.0),
    metrics=[dict(type="FID", prefix="digits_"),
             dict(type="CopySimilarity", column="nearest_train_nl2", tail="lower", thresholds=(0.5, 1.4, 1.6),
                  only_label=None, prefix="nL2 "),
             dict(type="GuidanceActivity", prefix="guidance "), dict(type="SamplingCost", per_samples=500)],
    image_format="png")
run = dict(batch_size=250, device="cpu")
