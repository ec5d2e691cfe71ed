# MFNet (Ha et al. 2017) at data/MFNet in its official release layout (4-channel images/, labels/, train/val/test
# lists); 9 classes with unlabeled = 0 scored like the other classes (the official code is FMB-only and has no MFNet
# evaluator: a 9-class Evaluator is the sheet's reading). As for FMB, the test split doubles as the validation set
# that train.train_includes_test appends.
_base_ = ["./fusionsam.py"]

dataset = dict(type="MFNet", data_root="data/MFNet", split="test")
method = dict(num_classes=9)
train = dict(dataset=dict(type="MFNet", data_root="data/MFNet", split="train"),
             val_dataset=dict(type="MFNet", data_root="data/MFNet", split="test"))
task = dict(type="segmentation", metrics=[dict(type="SegmentationClassMetrics", per_class=True)])
paper = dict(setting=dict(dataset="MFNet"))
