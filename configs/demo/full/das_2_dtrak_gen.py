# DAS demo (full profile), D-TRAK on the generated queries: das_1_dtrak's settings (||eps_theta||^2 / d as
# model output, no per-t normalisation), LDS on the 60 images of demo/full/das_0_model (configs/das/_base_/
# demo_digits2_gen.py; λ chosen on the held-out test digits).
_base_ = ["../../das/_base_/demo_digits2_gen.py"]

method = dict(method="dtrak")
