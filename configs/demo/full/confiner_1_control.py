# ConFiner demo, full profile: the control expert trained 4x as long as in the quick profile (still brief: its
# 4-step samples stay rough) (../confiner_1_control.py).
_base_ = ["../confiner_1_control.py"]

train = dict(steps=60)
