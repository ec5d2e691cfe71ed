# Video memorization demo, quick profile (`bench demo --only vdm_memorization`): the full demo's data, prompts,
# sampling and measures (./demo_digits.py) with a toy about 4 times cheaper per training step on CPU: the clip's 4
# frames as the channels of a 2-D UNet (methods/vdm_memorization/frames_as_channels.py; 3 levels (16, 32, 32),
# cross-attention below full resolution) instead of the UNet3DConditionModel, whose tiny temporal attentions take
# half of its step. Same loss, batch 32, learning rate 1e-2 and frozen caption encoder; 200 steps (160 fit 20 s but
# bind the clips less: configs/vdm_memorization/README.md). All 18 prompts in one generation batch.
_base_ = ["./demo_digits.py"]

train = dict(steps=200, architecture="frames_as_channels")
run = dict(batch_size=18)
