# Table 5, "guidance everywhere (no conditioning)": guidance at every step whatever the similarity, its scale from the
# dynamic curve.
_base_ = ["./cifar10_uncond_ablation_baseline.py"]

method = dict(guidance=dict(setting="main", schedule="none", comparison="x0"))
paper = dict(setting={"method": "guidance everywhere (no conditioning)"})
