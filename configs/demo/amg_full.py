# AMG quick demo: dissimilarity guidance G_sim on the official dynamic schedule (Table 2's "AMG (Main)" row), the
# paper's x0 comparison, same model and seeds as amg_plain.
_base_ = ["../amg/_base_/demo_digits.py"]

method = dict(guidance=dict(setting="main", schedule=dict(kind="dynamic", a=0.65, b=0.5, constant=0.5), trigger=0.5,
                             comparison="x0"))
