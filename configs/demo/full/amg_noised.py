# AMG demo, full: G_sim as the official code compares (x_t against the training pool noised to the same step),
# instead of the paper's x0 against the clean pool.
_base_ = ["../../amg/_base_/demo_digits_full.py"]

method = dict(guidance=dict(setting="main", schedule=dict(kind="dynamic", a=0.65, b=0.5, constant=0.5), trigger=0.5,
                             comparison="noised"))
