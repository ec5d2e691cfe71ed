# AMS demo: the Adaptive Momentum Sampler ("adam": momentum and adaptive pace) on DDIM (eta = 0) with 20 steps, the
# official defaults b_max = 0.1 (ascending from 0), c = 0.999, sin^2/cos^2 momentum; same model, seeds and grid as
# adaptive_momentum_sampler_ddim20.
_base_ = ["../../adaptive_momentum_sampler/_base_/demo_digits_full.py"]

method = dict(scheduler=dict(type="AdaptiveMomentumScheduler", method="adam", eta=0.0, b_min=0.0, b_max=0.1, c=0.999),
              num_inference_steps=20)
