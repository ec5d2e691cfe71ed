# CIFAR-100: calibrate the cached logits of classifiers/cifar100_resnet50. First cache them:
#   bench run consistency_calibration/classifiers/cifar100_resnet50 --cfg-options dataset.split=val
#   bench run consistency_calibration/classifiers/cifar100_resnet50
_base_ = ["./_base_/calibrate_cifar.py"]

dataset = dict(source="consistency_calibration/classifiers/cifar100_resnet50")
method = dict(fit_on=dict(source="consistency_calibration/classifiers/cifar100_resnet50"))
