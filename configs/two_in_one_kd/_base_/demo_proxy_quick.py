# The quick two-in-one KD demo's setting: demo_proxy.py (same generator, test set, models and optimiser) with 2
# frames per training video instead of 4 and 8 epochs instead of 16, a quarter of the full demo's training steps.
_base_ = ["demo_proxy.py"]

train = dict(dataset=dict(frames_per_video=2), epochs=8)
