# Two-in-one KD student on FaceForensics++ (c40), distilled from teacher_ffpp_c40 (trained first if needed).
_base_ = ["./_base_/ffpp.py", "./_base_/student.py"]

dataset = dict(compression="c40")
train = dict(dataset=dict(compression="c40"))
upstream = dict(teacher=dict(config="two_in_one_kd/teacher_ffpp_c40"))
paper = dict(setting={"dataset": "FF++ (c40)", "model": "two-in-one student"})
