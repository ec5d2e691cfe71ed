# CC rows of the derived regression table: eps searched on val with fine_grained by ECE-15 as the author library
# searches (its T = 1000 for the search too, fresh noise for every eps candidate), applied to test with T = 1000; the
# fitted eps fills the "_fitted" table. Leaves set the noise kind.
_base_ = ["./regression_cifar10_r50.py"]

method = dict(type="PostHocCalibration",
              calibrator=dict(type="ConsistencyCalibrator", noise=None, num_samples=1000, search_draws="fresh",
                              search_method="fine_grained", criterion="ece"))
paper = dict(metrics=dict(epsilon=dict(key="epsilon", table="regression_cifar10_r50_fitted")))
