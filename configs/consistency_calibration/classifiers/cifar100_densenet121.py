# Logit cache: focal_calibration zoo DenseNet-121 (cross-entropy) on CIFAR100; the default split is test (10k),
# `--cfg-options dataset.split=val` gives the 5k images held out from train (focal_calibration split, seed 1).
# focal_calibration's CIFAR-100 *test* loader normalises with ImageNet statistics (its train/val use the
# CIFAR ones, as here); set method.mean/std to CIFAR100_OFFICIAL_TEST_MEAN/STD to reproduce its test logits.
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/classification.py"]

dataset = dict(type="CIFAR100", root="data/cifar", split="test")
method = dict(type="CifarZooClassifier", arch="densenet121", num_classes=100,
              checkpoint="checkpoints/focal_calibration/CIFAR100/densenet121_cross_entropy_350.model")
run = dict(batch_size=256)
