# ConFiner demo, full profile: temporal refinement on the full profile's experts (../confiner_2_temporal.py).
_base_ = ["../confiner_2_temporal.py"]

upstream = dict(control=dict(config="demo/full/confiner_1_control"),
                spatial=dict(config="demo/full/confiner_1_spatial"),
                temporal=dict(config="demo/full/confiner_1_temporal"))
