# Quick two-in-one KD demo, the teacher (the full demo is demo/full/two_in_one_kd_*): the dual-branch detector
# (spatial test_resnet on the image, frequency test_resnet on its DCT bands, fused logit) trained with BCE.
_base_ = ["../two_in_one_kd/_base_/demo_proxy_quick.py"]

method = dict(type="DualBranchForgeryTeacher", spatial="test_resnet", frequency="test_resnet")
