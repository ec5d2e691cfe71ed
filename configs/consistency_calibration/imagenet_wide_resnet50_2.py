# ImageNet: calibrate the cached logits of classifiers/imagenet_wide_resnet50_2
# (the calib half of val to fit, the test half to evaluate). First cache them:
#   bench run consistency_calibration/classifiers/imagenet_wide_resnet50_2 --cfg-options dataset.split=calib
#   bench run consistency_calibration/classifiers/imagenet_wide_resnet50_2
_base_ = ["./_base_/calibrate_imagenet.py"]

dataset = dict(source="consistency_calibration/classifiers/imagenet_wide_resnet50_2")
method = dict(fit_on=dict(source="consistency_calibration/classifiers/imagenet_wide_resnet50_2"))
