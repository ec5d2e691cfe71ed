# AMG quick demo: demo_digits_full.py made small enough for about half a minute on 2 CPU cores: 200 samples over 50
# respaced steps instead of 500 over 250, 12 training epochs instead of 40 (372 steps: the model still copies its
# planted images; at 10 epochs of batch 32 on the 1000-image set it did not).
_base_ = ["./demo_digits_full.py"]

dataset = dict(num_samples=200)
method = dict(respacing="50")
train = dict(epochs=12)
task = dict(metrics=[dict(type="FID", prefix="digits_"),
                     dict(type="CopySimilarity", column="nearest_train_nl2", tail="lower", thresholds=(0.5, 1.4, 1.6),
                          only_label=None, prefix="nL2 "),
                     dict(type="GuidanceActivity", prefix="guidance "), dict(type="SamplingCost", per_samples=200)])
