# Two-in-one KD ablation on FaceForensics++ (c23), row: both branches, dedicated projectors, homogenized
# gradients (two-in-one KD).
_base_ = ["./ffpp_c23.py"]

method = dict(mode="dedicated", homogenization="both")
paper = dict(table="ablation", setting=dict(_delete_=True, dataset="FF++ (c23)", distillation="two_in_one"))
