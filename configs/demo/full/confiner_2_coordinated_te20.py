# ConFiner demo, full profile: coordinated refinement from T_e = 20 on the full profile's experts
# (../confiner_2_coordinated_te20.py).
_base_ = ["../confiner_2_coordinated_te20.py"]

upstream = dict(control=dict(config="demo/full/confiner_1_control"),
                spatial=dict(config="demo/full/confiner_1_spatial"),
                temporal=dict(config="demo/full/confiner_1_temporal"))
