# DAS demo (full profile; the quick das_1_* reuse it), DAS: the code's DAS1 (mean of eps_theta as model output, per-t
# normalised gradients, each training column times its residual r_i); LDS on the val digits of digits-2
# (configs/das/_base_/demo_digits2.py).
_base_ = ["../../das/_base_/demo_digits2.py"]

method = dict(method="das1")
