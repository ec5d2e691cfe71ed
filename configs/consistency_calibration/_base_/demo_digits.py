# Post-hoc calibration of the digits demo classifier: fit on its 297 val logits, evaluate on its 500 test logits
# (the logit-cache demo runs, upstreams: the runner runs them first, or finds them finished).
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/calibration.py"]

upstream = dict(test_logits=dict(config="demo/consistency_calibration_0_logits_test", product="logits"),
                fit_logits=dict(config="demo/consistency_calibration_0_logits_val", product="logits"))
dataset = dict(type="CachedLogits", run_dir="upstream:test_logits")
method = dict(type="PostHocCalibration", calibrator=dict(type="Uncalibrated"),
              fit_on=dict(type="CachedLogits", run_dir="upstream:fit_logits"))
run = dict(batch_size=500)
