# Calibration suite (CC sheet): accuracy, ECE-15, AdaECE-15, classwise ECE-15, NLL, Brier, reliability diagram.
task = dict(type="calibration")
