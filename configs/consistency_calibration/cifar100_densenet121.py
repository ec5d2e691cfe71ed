# Post-hoc calibration of the CIFAR100 DenseNet-121 logits: fit on the 5k val logits, evaluate on the 10k test logits.
# `bench run` evaluates CC; `bench sweep` runs every calibrator of the suite. First cache the logits:
#   bench run consistency_calibration/classifiers/cifar100_densenet121 --cfg-options dataset.split=val
#   bench run consistency_calibration/classifiers/cifar100_densenet121
_base_ = ["../_base_/default_run.py", "../_base_/tasks/calibration.py"]

dataset = dict(type="CachedLogits", source="consistency_calibration/classifiers/cifar100_densenet121",
               split="test")
method = dict(type="PostHocCalibration", calibrator=dict(type="ConsistencyCalibrator", search_num_samples=200),
              fit_on=dict(type="CachedLogits", source="consistency_calibration/classifiers/cifar100_densenet121",
                          split="val"))
run = dict(batch_size=1000)
# every calibrator of the suite (`bench sweep`); _delete_ replaces the calibrator dict instead of merging it
sweep = dict(grid={"method.calibrator": [
    dict(_delete_=True, type="Uncalibrated"), dict(_delete_=True, type="TemperatureScaling"),
    dict(_delete_=True, type="VectorScaling"), dict(_delete_=True, type="HistogramBinning"),
    dict(_delete_=True, type="BBQ"), dict(_delete_=True, type="EnsembleTemperatureScaling"),
    dict(_delete_=True, type="ConsistencyCalibrator", search_num_samples=200),
]})
