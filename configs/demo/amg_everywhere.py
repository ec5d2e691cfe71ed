# AMG quick demo: guidance at every step whatever the similarity (Table 5's "no conditioning" row).
_base_ = ["../amg/_base_/demo_digits.py"]

method = dict(guidance=dict(setting="main", schedule="none", comparison="x0"))
