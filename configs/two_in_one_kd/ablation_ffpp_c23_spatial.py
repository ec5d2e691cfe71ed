# Two-in-one KD ablation on FaceForensics++ (c23), row: spatial branch only (one projector).
_base_ = ["./ffpp_c23.py"]

method = dict(mode="spatial", homogenization="none")
paper = dict(table="ablation", setting=dict(_delete_=True, dataset="FF++ (c23)", distillation="spatial"))
