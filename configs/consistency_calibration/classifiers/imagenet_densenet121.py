# Logit cache: torchvision DenseNet-121 (IMAGENET1K_V1, read from the torch hub cache by its official file name)
# on a seeded 25k/25k calibration/test split of ImageNet-1k val; `--cfg-options dataset.split=calib` for the
# calibration half. Preprocessing is the weights' own: resize 256, center crop 224, bilinear.
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/classification.py"]

dataset = dict(type="ImageNetVal", root="data/imagenet", split="test", calib_size=25000, split_seed=0,
               resize=256, crop_size=224, interpolation="bilinear")
method = dict(type="TorchvisionClassifier", model_name="densenet121", weights="IMAGENET1K_V1")
run = dict(batch_size=128, num_workers=8)
