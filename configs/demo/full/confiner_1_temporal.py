# ConFiner demo, full profile: the temporal expert trained 6x as long as in the quick profile
# (../confiner_1_temporal.py).
_base_ = ["../confiner_1_temporal.py"]

train = dict(steps=240)
