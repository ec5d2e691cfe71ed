# AMG demo, full (`bench demo --full`): the quick amg_full run at the full demo's size (500 samples, 250 steps).
_base_ = ["../amg_full.py"]

dataset = dict(num_samples=500)
method = dict(respacing="250")
train = dict(epochs=60)
task = dict(metrics=[dict(type="FID", prefix="digits_"),
                     dict(type="CopySimilarity", column="nearest_train_nl2", tail="lower", thresholds=(1.4, 1.6),
                          only_label=None, prefix="nL2 "),
                     dict(type="GuidanceActivity", prefix="guidance "), dict(type="SamplingCost", per_samples=500)])
