# CIFAR-100: calibrate the cached logits of classifiers/cifar100_densenet121. First cache them:
#   bench run consistency_calibration/classifiers/cifar100_densenet121 --cfg-options dataset.split=val
#   bench run consistency_calibration/classifiers/cifar100_densenet121
_base_ = ["./_base_/calibrate_cifar.py"]

dataset = dict(source="consistency_calibration/classifiers/cifar100_densenet121")
method = dict(fit_on=dict(source="consistency_calibration/classifiers/cifar100_densenet121"))
