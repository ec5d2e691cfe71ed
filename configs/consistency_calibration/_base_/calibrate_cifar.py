# Post-hoc calibration of a CIFAR classifier's cached logits: fit on the 5k val logits, evaluate on the 10k test
# logits. A leaf config names the classifier config in upstream.test_logits.config and upstream.fit_logits.config;
# the runner runs the classifier on each split first (or finds its finished runs).
# `bench run` evaluates CC (eps searched as the author library does: T = 1000, fresh draws per candidate);
# `bench sweep` runs the suite.
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/calibration.py"]

upstream = dict(test_logits=dict(config="", product="logits", options={"dataset.split": "test"}),
                fit_logits=dict(config="", product="logits", options={"dataset.split": "val"}))
dataset = dict(type="CachedLogits", run_dir="upstream:test_logits")
method = dict(type="PostHocCalibration", calibrator=dict(type="ConsistencyCalibrator"),
              fit_on=dict(type="CachedLogits", run_dir="upstream:fit_logits"))
run = dict(batch_size=1000)
# every calibrator of the suite; _delete_ replaces the calibrator dict instead of merging into it
sweep = dict(grid={"method.calibrator": [
    dict(_delete_=True, type="Uncalibrated"), dict(_delete_=True, type="TemperatureScaling"),
    dict(_delete_=True, type="VectorScaling"), dict(_delete_=True, type="HistogramBinning"),
    dict(_delete_=True, type="BBQ"), dict(_delete_=True, type="EnsembleTemperatureScaling"),
    dict(_delete_=True, type="ConsistencyCalibrator"),
]})
