# FMB (the SegMiF benchmark) at data/FMB in the layout the official code reads: {train,test}/{Visible,Infrared,
# Label}/*.png, 15 label ids scored as the official Evaluator(15): per-class Acc, IoU, Recall, Precision, F1 and
# Dice and their plain means over all 15 ids (class 0 included). The official validation list is the test list.
_base_ = ["./fusionsam.py"]

dataset = dict(type="FMB", data_root="data/FMB", split="test")
method = dict(num_classes=15)
train = dict(dataset=dict(type="FMB", data_root="data/FMB", split="train"),
             val_dataset=dict(type="FMB", data_root="data/FMB", split="test"))
task = dict(type="segmentation", metrics=[dict(type="SegmentationClassMetrics", per_class=True)])
paper = dict(setting=dict(dataset="FMB"))
