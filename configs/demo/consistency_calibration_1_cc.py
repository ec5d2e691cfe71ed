# CC demo on digits: Consistency Calibration with the author library's defaults (noise chosen on val between
# Gaussian and uniform, fine-grained eps search by ECE-15, vote-fraction aggregation), T = 1000 for the test
# logits and T = 200 during the search (the sheet's regression setting).
_base_ = ["../consistency_calibration/_base_/demo_digits.py"]

method = dict(calibrator=dict(_delete_=True, type="ConsistencyCalibrator", noise="auto", aggregation="consistency",
                              num_samples=1000, search_num_samples=200, search_method="fine_grained",
                              criterion="ece"))
