# Post-hoc calibration of an ImageNet classifier's cached logits (25k/25k split of val, or the ImageNet-LT
# lists): as calibrate_cifar.py, with T = 100 during CC's eps search (1,000 classes; a GPU is advised).
_base_ = ["./calibrate_cifar.py"]

upstream = dict(fit_logits=dict(options={"dataset.split": "calib"}))
method = dict(calibrator=dict(search_num_samples=100))
run = dict(batch_size=500)
sweep = dict(grid={"method.calibrator": [
    dict(_delete_=True, type="Uncalibrated"), dict(_delete_=True, type="TemperatureScaling"),
    dict(_delete_=True, type="VectorScaling"), dict(_delete_=True, type="HistogramBinning"),
    dict(_delete_=True, type="BBQ"), dict(_delete_=True, type="EnsembleTemperatureScaling"),
    dict(_delete_=True, type="ConsistencyCalibrator", search_num_samples=100),
]})
