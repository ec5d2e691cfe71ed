# Two-in-one KD student on Celeb-DF v2, in-dataset, distilled from teacher_celebdf.
_base_ = ["./_base_/celebdf.py", "./_base_/student.py"]

upstream = dict(teacher=dict(config="two_in_one_kd/teacher_celebdf"))
paper = dict(setting={"dataset": "Celeb-DF", "model": "two-in-one student"})
