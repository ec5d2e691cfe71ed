# Two-in-one KD ablation on FaceForensics++ (c23), row: no distillation (the student's BCE only).
_base_ = ["./ffpp_c23.py"]

method = dict(mode="none", homogenization="none")
paper = dict(table="ablation", setting=dict(_delete_=True, dataset="FF++ (c23)", distillation="none"))
