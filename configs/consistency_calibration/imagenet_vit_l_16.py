# Post-hoc calibration of torchvision ViT-L/16 on ImageNet: fit on the 25k calibration half of val, evaluate on
# the other 25k (split seed 0). CC's eps search uses T = 100 here (1,000 classes); a GPU is advised. First:
#   bench run consistency_calibration/classifiers/imagenet_vit_l_16 --cfg-options dataset.split=calib
#   bench run consistency_calibration/classifiers/imagenet_vit_l_16
_base_ = ["../_base_/default_run.py", "../_base_/tasks/calibration.py"]

dataset = dict(type="CachedLogits", source="consistency_calibration/classifiers/imagenet_vit_l_16",
               split="test")
method = dict(type="PostHocCalibration", calibrator=dict(type="ConsistencyCalibrator", search_num_samples=100),
              fit_on=dict(type="CachedLogits", source="consistency_calibration/classifiers/imagenet_vit_l_16",
                          split="calib"))
run = dict(batch_size=500)
# every calibrator of the suite (`bench sweep`); _delete_ replaces the calibrator dict instead of merging it
sweep = dict(grid={"method.calibrator": [
    dict(_delete_=True, type="Uncalibrated"), dict(_delete_=True, type="TemperatureScaling"),
    dict(_delete_=True, type="VectorScaling"), dict(_delete_=True, type="HistogramBinning"),
    dict(_delete_=True, type="BBQ"), dict(_delete_=True, type="EnsembleTemperatureScaling"),
    dict(_delete_=True, type="ConsistencyCalibrator", search_num_samples=100),
]})
