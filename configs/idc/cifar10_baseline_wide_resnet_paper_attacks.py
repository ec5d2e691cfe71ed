# CNN baseline through the same robustness task: the focal_calibration zoo's cross-entropy Wide-ResNet on CIFAR-10
# ("wide_resnet_26_10": 4 blocks per stage, width 10, 36,481,434 parameters, the shape usually called WRN-28-10;
# a standard, not adversarially trained, CNN whose logits are attacked directly) under IDC's attack suite.
_base_ = ["./_base_/cifar10.py", "./_base_/paper_attacks.py"]

method = dict(_delete_=True, type="CifarZooClassifier", arch="wide_resnet_26_10", num_classes=10,
              checkpoint="checkpoints/focal_calibration/CIFAR10/wide_resnet_cross_entropy_350.model")
run = dict(batch_size=128)
task = dict(view="logits", num_classes=10)
