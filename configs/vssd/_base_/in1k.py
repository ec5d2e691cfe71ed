# VSSD on ImageNet-1K val (50k, ImageFolder layout under data/imagenet/val): Swin's evaluation transform,
# resize the shorter side to 256 (= 224 / 0.875) with bicubic interpolation, center crop 224, ImageNet mean/std.
# Leaves set the timm model name, the checkpoint file and the table setting.
_base_ = ["../../_base_/default_run.py", "../../_base_/tasks/classification.py"]

dataset = dict(type="ImageNetVal", root="data/imagenet", split="all", resize=256, crop_size=224,
               interpolation="bicubic")
method = dict(type="TimmClassifier", model_name=None, num_classes=1000, mean=[0.485, 0.456, 0.406],
              std=[0.229, 0.224, 0.225], checkpoint=None,
              checkpoint_keys=["model_ema", "model"])  # EMA weights when the file has them (a knob)
task = dict(metrics=[dict(type="Accuracy"), dict(type="TopKAccuracy", k=5), dict(type="NLL"),
                     dict(type="ECE", n_bins=15)])
run = dict(batch_size=128, num_workers=8)
paper = dict(slug="vssd", table="in1k", metrics={"top-1": dict(key="accuracy", scale=100)})
