# Post-hoc calibration of the digits demo classifier: fit on its 297 val logits, evaluate on its 500 test logits.
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/calibration.py"]

dataset = dict(type="CachedLogits", source="demo/consistency_calibration_0_logits_test")
method = dict(type="PostHocCalibration", calibrator=dict(type="Uncalibrated"),
              fit_on=dict(type="CachedLogits", source="demo/consistency_calibration_0_logits_val"))
run = dict(batch_size=500)
