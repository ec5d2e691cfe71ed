# AMS quick demo on scikit-learn's digits: demo_digits_full.py (a DDPM on 8x8x1 digits, linear betas, T = 1000,
# trained here for real on the 1,000-image train split; FID-style scores from the digits classifier of
# demo/harness_digits, labelled digits_*) made small enough for about a minute on 2 CPU cores: a quarter of the
# UNet (177k parameters, channels 16/32), 25 epochs instead of 100 (40 until 2026-12-06, cut for the quick
# profile's budget), 500 samples per sampler instead of 1,000.
# The DDPM trains once per results folder (the train stage is keyed by the method's model and train sections) and
# every sampler config, and the Compress Guidance quick demo, reuse it.
_base_ = ["./demo_digits_full.py"]

dataset = dict(num_samples=500)
method = dict(unet_config=dict(block_out_channels=(16, 32)))
train = dict(epochs=25, lr=3e-3)
task = dict(metrics=[dict(type="FID", prefix="digits_"), dict(type="InceptionScore", split_size=500, prefix="digits_"),
                     dict(type="PrecisionRecall", k=3, prefix="digits_"),
                     dict(type="KID", subsets=100, subset_size=500, prefix="digits_")])
