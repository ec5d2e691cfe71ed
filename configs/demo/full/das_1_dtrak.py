# DAS demo (full profile; the quick das_1_* reuse it), D-TRAK: ||eps_theta||^2 / d (mean-squared-l2-norm) as model
# output, no per-t normalisation; LDS on the val digits of digits-2 (configs/das/_base_/demo_digits2.py).
_base_ = ["../../das/_base_/demo_digits2.py"]

method = dict(method="dtrak")
