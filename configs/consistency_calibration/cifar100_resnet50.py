# CIFAR-100: calibrate the cached logits of classifiers/cifar100_resnet50.
# The runner runs the classifier on both splits first (or finds its finished runs): the logits are upstreams.
_base_ = ["./_base_/calibrate_cifar.py"]

upstream = dict(test_logits=dict(config="consistency_calibration/classifiers/cifar100_resnet50"),
                fit_logits=dict(config="consistency_calibration/classifiers/cifar100_resnet50"))
