# ImageNet-LT: calibrate on the OLTR val logits (20k), evaluate on the test logits (50k), with the suite's
# metrics per many (> 100) / medium / few (< 20) training-image bucket.
# The runner runs the classifier on both splits first (or finds its finished runs): the logits are upstreams.
_base_ = ["./_base_/calibrate_imagenet.py"]

upstream = dict(test_logits=dict(config="consistency_calibration/classifiers/imagenet_lt_resnet50"),
                fit_logits=dict(config="consistency_calibration/classifiers/imagenet_lt_resnet50",
                                options={"dataset.split": "val"}))
task = dict(metrics=[dict(type="Accuracy"), dict(type="ECE", n_bins=15), dict(type="AdaECE", n_bins=15),
                     dict(type="ClasswiseECE", n_bins=15), dict(type="NLL"), dict(type="Brier"),
                     dict(type="ShotBucketCalibration", train_file="data/imagenet/ImageNet_LT_train.txt")])
