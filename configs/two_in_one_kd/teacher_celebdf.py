# Two-in-one KD teacher on Celeb-DF v2, in-dataset (train on the non-test videos, score the 518 test videos).
_base_ = ["./_base_/celebdf.py", "./_base_/teacher.py"]

paper = dict(setting={"dataset": "Celeb-DF", "model": "dual-branch teacher"})
