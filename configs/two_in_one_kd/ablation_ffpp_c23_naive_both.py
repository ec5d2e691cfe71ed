# Two-in-one KD ablation on FaceForensics++ (c23), row: both branches naively (one projector onto the
# concatenated features).
_base_ = ["./ffpp_c23.py"]

method = dict(mode="naive_both", homogenization="none")
paper = dict(table="ablation", setting=dict(_delete_=True, dataset="FF++ (c23)", distillation="naive_both"))
