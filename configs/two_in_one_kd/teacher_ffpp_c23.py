# Two-in-one KD teacher on FaceForensics++ (c23): trained on the train split, scored on the test split (the teacher
# row of the main table: the parameters the student saves).
_base_ = ["./_base_/ffpp.py", "./_base_/teacher.py"]

dataset = dict(compression="c23")
train = dict(dataset=dict(compression="c23"))
paper = dict(setting={"dataset": "FF++ (c23)", "model": "dual-branch teacher"})
