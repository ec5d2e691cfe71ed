# Two-in-one KD student on FaceForensics++ (c40), distilled from teacher_ffpp_c40 (trained first if needed).
_base_ = ["./_base_/ffpp.py", "./_base_/student.py"]

dataset = dict(compression="c40")
train = dict(dataset=dict(compression="c40"))
method = dict(teacher="two_in_one_kd/teacher_ffpp_c40")
paper = dict(slug="two_in_one_kd", table="main", setting={"dataset": "FF++ (c40)", "model": "two-in-one student"},
             metrics={"ACC": dict(key="frame ACC", scale=100), "AUC": dict(key="frame AUC", scale=100),
                      "video AUC": dict(key="video AUC", scale=100), "Params": "params (M)"})
