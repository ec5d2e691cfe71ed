# Quick two-in-one KD demo, ablation row 1, no distillation: the student (test_efficientnet) on its own BCE only.
_base_ = ["../two_in_one_kd/_base_/demo_proxy_quick.py"]

upstream = dict(teacher=dict(config="demo/two_in_one_kd_0_teacher", product="checkpoint"))
method = dict(type="TwoInOneKD", student="test_efficientnet", mode="none", homogenization="none",
              teacher=dict(method="upstream:teacher.method", checkpoint="upstream:teacher"))
