# Post-hoc calibration on ImageNet-LT: fit on the OLTR val logits (20k), evaluate on the test logits (50k),
# with the suite's metrics per many (> 100) / medium / few (< 20) training-image bucket. First:
#   bench run consistency_calibration/classifiers/imagenet_lt_resnet50 --cfg-options dataset.split=val
#   bench run consistency_calibration/classifiers/imagenet_lt_resnet50
_base_ = ["../_base_/default_run.py", "../_base_/tasks/calibration.py"]

dataset = dict(type="CachedLogits", source="consistency_calibration/classifiers/imagenet_lt_resnet50",
               split="test")
method = dict(type="PostHocCalibration", calibrator=dict(type="ConsistencyCalibrator", search_num_samples=100),
              fit_on=dict(type="CachedLogits", source="consistency_calibration/classifiers/imagenet_lt_resnet50",
                          split="val"))
task = dict(metrics=[dict(type="Accuracy"), dict(type="ECE", n_bins=15), dict(type="AdaECE", n_bins=15),
                     dict(type="ClasswiseECE", n_bins=15), dict(type="NLL"), dict(type="Brier"),
                     dict(type="ShotBucketCalibration", train_file="data/imagenet/ImageNet_LT_train.txt")])
run = dict(batch_size=500)
# every calibrator of the suite (`bench sweep`); _delete_ replaces the calibrator dict instead of merging it
sweep = dict(grid={"method.calibrator": [
    dict(_delete_=True, type="Uncalibrated"), dict(_delete_=True, type="TemperatureScaling"),
    dict(_delete_=True, type="VectorScaling"), dict(_delete_=True, type="HistogramBinning"),
    dict(_delete_=True, type="BBQ"), dict(_delete_=True, type="EnsembleTemperatureScaling"),
    dict(_delete_=True, type="ConsistencyCalibrator", search_num_samples=100),
]})
