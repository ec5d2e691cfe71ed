# AMG demo, full: guidance at every step whatever the similarity (Table 5's "no conditioning" row).
_base_ = ["../../amg/_base_/demo_digits_full.py"]

method = dict(guidance=dict(setting="main", schedule=dict(kind="none", a=0.65, b=0.5, constant=0.5), trigger=0.5,
                             comparison="x0"))
