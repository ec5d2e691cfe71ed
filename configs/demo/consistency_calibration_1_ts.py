# CC demo on digits: TemperatureScaling, fitted on the val logits and applied to the test logits of the demo classifier.
_base_ = ["../consistency_calibration/_base_/demo_digits.py"]

method = dict(calibrator=dict(type="TemperatureScaling"))
