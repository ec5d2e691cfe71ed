# Two-in-one KD teacher on FaceForensics++ (c40): trained on the train split, scored on the test split (the teacher
# row of the main table: the parameters the student saves).
_base_ = ["./_base_/ffpp.py", "./_base_/teacher.py"]

dataset = dict(compression="c40")
train = dict(dataset=dict(compression="c40"))
paper = dict(setting={"dataset": "FF++ (c40)", "model": "dual-branch teacher"})
