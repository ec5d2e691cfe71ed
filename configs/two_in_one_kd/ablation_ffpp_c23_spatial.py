# Two-in-one KD ablation on FaceForensics++ (c23), row: spatial branch only (one projector).
_base_ = ["./ffpp_c23.py"]

method = dict(mode="spatial", homogenization="none")
paper = dict(table="ablation", setting={"dataset": "FF++ (c23)", "distillation": "spatial"},
             metrics={"ACC": dict(key="frame ACC", scale=100), "AUC": dict(key="frame AUC", scale=100)})
