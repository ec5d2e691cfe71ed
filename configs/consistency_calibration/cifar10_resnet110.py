# CIFAR-10: calibrate the cached logits of classifiers/cifar10_resnet110. First cache them:
#   bench run consistency_calibration/classifiers/cifar10_resnet110 --cfg-options dataset.split=val
#   bench run consistency_calibration/classifiers/cifar10_resnet110
_base_ = ["./_base_/calibrate_cifar.py"]

dataset = dict(source="consistency_calibration/classifiers/cifar10_resnet110")
method = dict(fit_on=dict(source="consistency_calibration/classifiers/cifar10_resnet110"))
