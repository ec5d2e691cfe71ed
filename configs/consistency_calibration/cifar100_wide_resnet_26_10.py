# CIFAR-100: calibrate the cached logits of classifiers/cifar100_wide_resnet_26_10. First cache them:
#   bench run consistency_calibration/classifiers/cifar100_wide_resnet_26_10 --cfg-options dataset.split=val
#   bench run consistency_calibration/classifiers/cifar100_wide_resnet_26_10
_base_ = ["./_base_/calibrate_cifar.py"]

dataset = dict(source="consistency_calibration/classifiers/cifar100_wide_resnet_26_10")
method = dict(fit_on=dict(source="consistency_calibration/classifiers/cifar100_wide_resnet_26_10"))
