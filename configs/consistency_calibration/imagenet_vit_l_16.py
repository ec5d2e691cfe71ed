# ImageNet: calibrate the cached logits of classifiers/imagenet_vit_l_16
# (the calib half of val to fit, the test half to evaluate).
# The runner runs the classifier on both splits first (or finds its finished runs): the logits are upstreams.
_base_ = ["./_base_/calibrate_imagenet.py"]

upstream = dict(test_logits=dict(config="consistency_calibration/classifiers/imagenet_vit_l_16"),
                fit_logits=dict(config="consistency_calibration/classifiers/imagenet_vit_l_16"))
