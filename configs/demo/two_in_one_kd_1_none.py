# Two-in-one KD demo, ablation row 1, no distillation: the student (test_efficientnet) trained on its own BCE only.
_base_ = ["../two_in_one_kd/_base_/demo_proxy.py"]

method = dict(type="TwoInOneKD", student="test_efficientnet", teacher="demo/two_in_one_kd_0_teacher",
              mode="none", homogenization="none")
