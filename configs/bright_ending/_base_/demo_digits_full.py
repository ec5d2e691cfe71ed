# Bright Ending ground-truth demo, full (`bench demo --full`): the quick demo's construction at 16x16 with 6x6 motifs,
# the toy model trained 4x longer (1,000 steps, text encoder at 5x the learning rate: measured 136 s on one core),
# 4 generations per prompt over the official 50 DDIM steps (guidance 3: the toy saturates at 7.5) and the official
# 10 optimisation iterations.
_base_ = ["./demo_digits.py"]

dataset = dict(size=16, motif_size=6)
method = dict(num_images=4, sampling=dict(num_inference_steps=50))
train = dict(dataset=dict(size=16, motif_size=6), steps=1000, text_encoder_lr=1.5e-2)
task = dict(train_reference=dict(size=16, motif_size=6))
