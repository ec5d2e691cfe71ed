# CIFAR-10: calibrate the cached logits of classifiers/cifar10_wide_resnet_26_10.
# The runner runs the classifier on both splits first (or finds its finished runs): the logits are upstreams.
_base_ = ["./_base_/calibrate_cifar.py"]

upstream = dict(test_logits=dict(config="consistency_calibration/classifiers/cifar10_wide_resnet_26_10"),
                fit_logits=dict(config="consistency_calibration/classifiers/cifar10_wide_resnet_26_10"))
