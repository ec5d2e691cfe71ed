# ImageNet: calibrate the cached logits of classifiers/imagenet_vit_l_16
# (the calib half of val to fit, the test half to evaluate). First cache them:
#   bench run consistency_calibration/classifiers/imagenet_vit_l_16 --cfg-options dataset.split=calib
#   bench run consistency_calibration/classifiers/imagenet_vit_l_16
_base_ = ["./_base_/calibrate_imagenet.py"]

dataset = dict(source="consistency_calibration/classifiers/imagenet_vit_l_16")
method = dict(fit_on=dict(source="consistency_calibration/classifiers/imagenet_vit_l_16"))
