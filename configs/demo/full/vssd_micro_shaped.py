# VSSD demo: a VSSD-Micro-shaped model (stem, NC-SSD stages 1-3, attention in stage 4) scaled down to 0.50M
# parameters: embed 16, depths 1/1/2/1, heads 1/2/4/8, d_state 16.
_base_ = ["../../vssd/_base_/demo_digits32.py"]

method = dict(model_name="vssd_micro",
              model_kwargs=dict(embed_dim=16, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8], d_state=16))
