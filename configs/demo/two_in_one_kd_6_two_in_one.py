# Quick two-in-one KD demo, ablation row 6, two-in-one KD: dedicated projectors onto the teacher's spatial and
# frequency features plus gradient homogenization of the two distillation gradients on the student's backbone.
# Rows 2-5 (spatial only, frequency only, naive both, dedicated without homogenization) run in the full demo.
_base_ = ["../two_in_one_kd/_base_/demo_proxy_quick.py"]

upstream = dict(teacher=dict(config="demo/two_in_one_kd_0_teacher", product="checkpoint"))
method = dict(type="TwoInOneKD", student="test_efficientnet", mode="dedicated", homogenization="both",
              teacher=dict(method="upstream:teacher.method", checkpoint="upstream:teacher"))
