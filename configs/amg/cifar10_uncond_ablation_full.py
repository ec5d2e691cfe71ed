# Table 5, "full": the dynamic schedule (Main).
_base_ = ["./cifar10_uncond_ablation_baseline.py"]

method = dict(guidance=dict(setting="main", schedule="dynamic", comparison="x0"))
paper = dict(setting={"method": "full"})
