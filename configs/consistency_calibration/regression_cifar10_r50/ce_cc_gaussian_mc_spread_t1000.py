# The sheet's Monte-Carlo spread cell at T = 1000 (table mc_spread): CC-Gaussian on the library's cross-entropy
# ResNet-50 logits, ECE-15 over run.seed 0-4 (T = 1000 for the eps search and for calibration: the library has one
# num_samples). `bench sweep` runs the five seeds; `bench table` shows their std (ddof 1) next to the sheet's.
_base_ = ["./ce_cc_gaussian.py"]

method = dict(calibrator=dict(num_samples=1000))
paper = dict(table="mc_spread", setting=dict(T="1000"),
             metrics=dict(_delete_=True, **{"ECE-15": dict(key="ece_15", scale=100)}))
sweep = dict(grid={"run.seed": [0, 1, 2, 3, 4]})
