# Derived regression table, CIFAR-10 ResNet-50 cross-entropy logits: CC-uniform.
_base_ = ["../_base_/regression_cifar10_r50.py"]

dataset = dict(type="LogitsFile", path="data/calibrator_logits/resnet50_cifar10_cross_entropy_test_0.9_vanilla.pt")
method = dict(type="PostHocCalibration",
              calibrator=dict(type="ConsistencyCalibrator", noise="uniform", num_samples=1000,
                             search_num_samples=200, search_method="fine_grained", criterion="ece"),
              fit_on=dict(type="LogitsFile",
                          path="data/calibrator_logits/resnet50_cifar10_cross_entropy_val_0.1_vanilla.pt"))
paper = dict(setting=dict(dataset="CIFAR-10", model="ResNet-50", loss="cross-entropy", method="CC-uniform"),
             metrics=dict(epsilon=dict(key="epsilon", table="regression_cifar10_r50_fitted")))
