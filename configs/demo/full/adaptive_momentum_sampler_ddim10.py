# AMS demo, baseline: diffusers' DDIMScheduler (eta = 0, no clipping, final alpha 1) with 10 steps on the grid
# range(0, 1000, 100) (leading spacing, steps_offset 0: the official sampler's uniform grid).
_base_ = ["../../adaptive_momentum_sampler/_base_/demo_digits_full.py"]

method = dict(scheduler=dict(type="DDIMScheduler"), num_inference_steps=10)
