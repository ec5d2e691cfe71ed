# DAS demo (full profile), DAS on the generated queries: das_1_das's settings (the code's DAS1: mean of
# eps_theta, per-t normalised gradients, residual-weighted training columns), LDS on the 60 images of
# demo/full/das_0_model (configs/das/_base_/demo_digits2_gen.py; λ chosen on the held-out test digits).
_base_ = ["../../das/_base_/demo_digits2_gen.py"]

method = dict(method="das1")
