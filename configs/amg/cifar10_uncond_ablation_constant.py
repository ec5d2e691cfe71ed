# Table 5, "constant schedule": a constant threshold of 1.5 (the code's trigger value; the paper does not give its
# constant).
_base_ = ["./cifar10_uncond_ablation_baseline.py"]

method = dict(guidance=dict(setting="main", schedule="constant", comparison="x0"))
paper = dict(setting={"method": "constant schedule"})
