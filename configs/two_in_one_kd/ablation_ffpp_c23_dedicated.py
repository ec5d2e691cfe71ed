# Two-in-one KD ablation on FaceForensics++ (c23), row: both branches, dedicated projectors, summed gradients.
_base_ = ["./ffpp_c23.py"]

method = dict(mode="dedicated", homogenization="none")
paper = dict(table="ablation", setting={"dataset": "FF++ (c23)", "distillation": "dedicated"},
             metrics={"ACC": dict(key="frame ACC", scale=100), "AUC": dict(key="frame AUC", scale=100)})
