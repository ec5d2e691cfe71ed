# Logit cache: focal_calibration zoo ResNet-50 (cross-entropy) on CIFAR10; the default split is test (10k),
# `--cfg-options dataset.split=val` gives the 5k images held out from train (focal_calibration split, seed 1).
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/classification.py"]

dataset = dict(type="CIFAR10", root="data/cifar", split="test")
method = dict(type="CifarZooClassifier", arch="resnet50", num_classes=10,
              checkpoint="checkpoints/focal_calibration/CIFAR10/resnet50_cross_entropy_350.model")
run = dict(batch_size=256)
