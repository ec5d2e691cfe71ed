# ImageNet-LT: calibrate on the OLTR val logits (20k), evaluate on the test logits (50k), with the suite's
# metrics per many (> 100) / medium / few (< 20) training-image bucket. First cache the logits:
#   bench run consistency_calibration/classifiers/imagenet_lt_resnet50 --cfg-options dataset.split=val
#   bench run consistency_calibration/classifiers/imagenet_lt_resnet50
_base_ = ["./_base_/calibrate_imagenet.py"]

dataset = dict(source="consistency_calibration/classifiers/imagenet_lt_resnet50")
method = dict(fit_on=dict(source="consistency_calibration/classifiers/imagenet_lt_resnet50", split="val"))
task = dict(metrics=[dict(type="Accuracy"), dict(type="ECE", n_bins=15), dict(type="AdaECE", n_bins=15),
                     dict(type="ClasswiseECE", n_bins=15), dict(type="NLL"), dict(type="Brier"),
                     dict(type="ShotBucketCalibration", train_file="data/imagenet/ImageNet_LT_train.txt")])
