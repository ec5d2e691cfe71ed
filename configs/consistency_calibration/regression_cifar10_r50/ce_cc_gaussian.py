# Derived regression table, CIFAR-10 ResNet-50 cross-entropy logits: CC-Gaussian.
_base_ = ["../_base_/regression_cifar10_r50_cc.py"]

dataset = dict(type="LogitsFile", path="data/calibrator_logits/resnet50_cifar10_cross_entropy_test_0.9_vanilla.pt")
method = dict(calibrator=dict(noise="gaussian"),
              fit_on=dict(type="LogitsFile",
                          path="data/calibrator_logits/resnet50_cifar10_cross_entropy_val_0.1_vanilla.pt"))
paper = dict(setting=dict(dataset="CIFAR-10", model="ResNet-50", loss="cross-entropy", method="CC-Gaussian"))
