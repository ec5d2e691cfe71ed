# IDC on CIFAR-100 with the authors' released checkpoint (EMA weights): the test split (10,000 images), every sample
# counted (the official DDP loader drops about 16). Eval batch 64, as test_torchattacks_cifar100.sh. U-Net:
# Template-IDC-cifar100.yaml (42,843,971 parameters).
_base_ = ["../../_base_/default_run.py"]

dataset = dict(type="CIFAR100", root="data/cifar", split="test")
method = dict(type="IDC", num_classes=100, preset="cifar100",
              checkpoint="checkpoints/idc/cifar100/latest_model_400.pth")
run = dict(seed=0, batch_size=64)
