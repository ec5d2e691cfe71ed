# Logit cache: an ImageNet-LT classifier on the OLTR test list (50k, 50 per class); `dataset.split=val` for the
# 20k val list. The checkpoint behind the paper's ImageNet-LT numbers is unknown (sheet section 4): supply a
# torchvision-layout ResNet-50 state dict trained on ImageNet_LT_train.txt at the path below.
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/classification.py"]

dataset = dict(type="ImageNetLT", root="data/imagenet", split="test", resize=256, crop_size=224,
               interpolation="bilinear")
method = dict(type="TorchvisionClassifier", model_name="resnet50", weights=None,
              checkpoint="checkpoints/imagenet_lt/resnet50_imagenet_lt.pth", check_hash=False,
              mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])
run = dict(batch_size=128, num_workers=8)
