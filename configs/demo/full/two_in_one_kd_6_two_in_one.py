# Two-in-one KD demo, ablation row 6, two-in-one KD: dedicated projectors plus gradient homogenization of the two
# distillation gradients on the student's backbone (conflict projection, then equal norms).
# Feature losses: squared distances of L2-normalised features, weight 1 each, next to the student's BCE.
_base_ = ["../../two_in_one_kd/_base_/demo_proxy.py"]

upstream = dict(teacher=dict(config="demo/full/two_in_one_kd_0_teacher", product="checkpoint"))
method = dict(type="TwoInOneKD", student="test_efficientnet",
              mode="dedicated", homogenization="both",
              teacher=dict(method="upstream:teacher.method", checkpoint="upstream:teacher"))
