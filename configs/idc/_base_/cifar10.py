# IDC on CIFAR-10 with the authors' released checkpoint (EMA weights, as their test applies them): the test split
# (10,000 images, ToTensor only), every sample counted (the official DDP loader's drop_last is not reproduced).
# Eval batch 25, as test_torchattacks_cifar10.sh. U-Net: Template-IDC-cifar10.yaml (9,393,475 parameters).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CIFAR10", root="data/cifar", split="test")
method = dict(type="IDC", num_classes=10, preset="cifar10", checkpoint="checkpoints/idc/cifar10/latest_model_400.pth")
run = dict(seed=0, batch_size=25)
