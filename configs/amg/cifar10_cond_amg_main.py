# Table 3, AMG (Main): G_sim on the code's dynamic schedule (lambda_t = 1.95 - 0.45 exp(-0.025 t) over the
# respaced index, trigger at nL2 < 1.5, c3 = 1000 x 80), the paper's x0 comparison.
_base_ = ["./_base_/cifar10_cond.py"]

method = dict(guidance=dict(setting="main", schedule="dynamic", comparison="x0"))
paper = dict(setting={"method": "AMG (Main)"})
