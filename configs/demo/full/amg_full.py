# AMG demo, full: G_sim on the dynamic schedule (rescaled to 8x8 digits, see the base config), the paper's x0
# comparison, same model and seeds as amg_plain.
_base_ = ["../../amg/_base_/demo_digits_full.py"]

method = dict(guidance=dict(setting="main", schedule=dict(kind="dynamic", a=0.65, b=0.5, constant=0.5), trigger=0.5,
                             comparison="x0"))
