# Two-in-one KD student on FaceForensics++ (c23), distilled from teacher_ffpp_c23 (trained first if needed).
_base_ = ["./_base_/ffpp.py", "./_base_/student.py"]

dataset = dict(compression="c23")
train = dict(dataset=dict(compression="c23"))
upstream = dict(teacher=dict(config="two_in_one_kd/teacher_ffpp_c23"))
paper = dict(setting={"dataset": "FF++ (c23)", "model": "two-in-one student"})
