# Two-in-one KD teacher on Celeb-DF v2, in-dataset (train on the non-test videos, score the 518 test videos).
_base_ = ["./_base_/celebdf.py", "./_base_/teacher.py"]

paper = dict(slug="two_in_one_kd", table="main", setting={"dataset": "Celeb-DF", "model": "dual-branch teacher"},
             metrics={"ACC": dict(key="frame ACC", scale=100), "AUC": dict(key="frame AUC", scale=100),
                      "video AUC": dict(key="video AUC", scale=100), "Params": "params (M)"})
