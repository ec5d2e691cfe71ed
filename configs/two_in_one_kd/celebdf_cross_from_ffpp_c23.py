# Cross-dataset: the FF++ (c23) two-in-one student (same method and train sections as ffpp_c23.py, so the same
# trained model) scored on Celeb-DF v2's 518 test videos. Usually reported as AUC only.
_base_ = ["./_base_/ffpp.py", "./_base_/student.py"]

dataset = dict(_delete_=True, type="CelebDFv2", root="data/celebdf", split="test", frames_per_video=32, size=299,
               crop="boxes", boxes="data/celebdf/boxes.json", crop_scale=1.3, workers=4)
upstream = dict(teacher=dict(config="two_in_one_kd/teacher_ffpp_c23"))
paper = dict(table="cross_dataset", setting=dict(train="FF++ (c23)", test="Celeb-DF", model="two-in-one student"),
             metrics={"_delete_": True, "AUC": dict(key="frame AUC", scale=100),
                      "video AUC": dict(key="video AUC", scale=100)})
