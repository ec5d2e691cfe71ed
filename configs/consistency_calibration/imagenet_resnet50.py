# ImageNet: calibrate the cached logits of classifiers/imagenet_resnet50
# (the calib half of val to fit, the test half to evaluate). First cache them:
#   bench run consistency_calibration/classifiers/imagenet_resnet50 --cfg-options dataset.split=calib
#   bench run consistency_calibration/classifiers/imagenet_resnet50
_base_ = ["./_base_/calibrate_imagenet.py"]

dataset = dict(source="consistency_calibration/classifiers/imagenet_resnet50")
method = dict(fit_on=dict(source="consistency_calibration/classifiers/imagenet_resnet50"))
