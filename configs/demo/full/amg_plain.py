# AMG demo, full (`bench demo --full`): the memorizing digits DDPM (40 epochs) sampled plainly, 500 samples over
# 250 respaced steps.
_base_ = ["../../amg/_base_/demo_digits_full.py"]
