# Table 2, AMG (Main) as the official code compares: x_t against the training pool noised to the same step
# (fresh noise per check), instead of the paper's x0 against the clean pool. Fills an unreported variant row.
_base_ = ["./_base_/cifar10_uncond.py"]

method = dict(guidance=dict(setting="main", schedule="dynamic", comparison="noised"))
paper = dict(setting={"method": "AMG (Main), code's x_t comparison"})
