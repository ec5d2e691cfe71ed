# Bright Ending demo, full (`bench demo --full`): the quick detection and localization run on the full-size toy
# (the overrides of ../../bright_ending/_base_/demo_digits_full.py).
_base_ = ["../bright_ending_detect.py"]

dataset = dict(size=16, motif_size=6)
method = dict(num_images=4, sampling=dict(num_inference_steps=50))
train = dict(dataset=dict(size=16, motif_size=6), steps=1000, text_encoder_lr=1.5e-2)
task = dict(train_reference=dict(size=16, motif_size=6))
