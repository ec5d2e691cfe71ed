# Two-in-one KD demo, the teacher: the dual-branch detector (spatial test_resnet on the image, frequency test_resnet
# on its low/middle/high DCT bands, fused logit) trained with BCE. The students distil it.
_base_ = ["../../two_in_one_kd/_base_/demo_proxy.py"]

method = dict(type="DualBranchForgeryTeacher", spatial="test_resnet", frequency="test_resnet")
