# Compress Guidance quick demo on scikit-learn's digits: demo_digits_full.py (the AMS demo's unconditional digits
# DDPM guided by a small noisy ADM classifier that this config's train stage fits on x_t of the same process; the
# independent digits classifier of demo/harness_digits scores off-sampling accuracy and digits_FID/KID, the guiding
# classifier at t = 0 the on-sampling accuracy) made small enough for under a minute on 2 CPU cores: the AMS quick
# demo's DDPM (trained once, shared), 15 classifier epochs instead of 60, 200 samples instead of 500 and 50
# respaced steps instead of 250 (the schedules' budgets scale with them: 10 slots of 50 instead of 50 of 250).
_base_ = ["./demo_digits_full.py"]

dataset = dict(num_samples=200)
method = dict(respacing="50")
train = dict(epochs=15)
upstream = dict(ddpm=dict(config="demo/adaptive_momentum_sampler_ddim10"))
task = dict(metrics=[dict(type="FID", prefix="digits_"),
                     dict(type="KID", subsets=100, subset_size=200, prefix="digits_"),
                     dict(type="ClassAccuracy", prefix="digits_"), dict(type="GuideAccuracy"),
                     dict(type="SamplingCost", per_samples=200)])
