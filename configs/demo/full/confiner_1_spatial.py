# ConFiner demo, full profile: the frame DDPM trained 8x as long as in the quick profile (../confiner_1_spatial.py).
_base_ = ["../confiner_1_spatial.py"]

train = dict(epochs=800)
