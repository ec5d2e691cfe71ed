"""DPMs-ANT's sampler: the generalised DDPM/DDIM step of image_generator.py (official first commit 65f00ba), which
is diffusers' ``DDIMScheduler`` configured as below with ``eta=1``.

image_generator.py:64-67 visits t = 998, 996, …, 0 (``range(0, T, T // sample_timesteps)`` reversed, 500 steps,
base.yaml:33), with ᾱ_{−1} = 1 after the last step (the zero β prepended at :62, indexed at t + 1, :109-110); each
step (:117-122) predicts x̂0 = (x_t − √(1−ᾱ_t) ε̂)/√ᾱ_t, clips it to [−1, 1], and sets
x_prev = √ᾱ_prev x̂0 + c1·z + √(1 − ᾱ_prev − c1²)·ε̂ with c1 = η·√((1 − ᾱ_t/ᾱ_prev)(1 − ᾱ_prev)/(1 − ᾱ_t)), η = 1
(base.yaml:36), z fresh Gaussian noise drawn every step (:108), ε̂ the unclipped prediction. That is
``DDIMScheduler.step(eta=1)`` with ``clip_sample=True``, ``set_alpha_to_one=True``, ``steps_offset=0``,
"leading" spacing and ``use_clipped_model_output=False`` (proved step by step in tests/test_dpms_ant_sampling.py).
The β are passed as ``trained_betas`` so that ᾱ equals the code's float32 values exactly. The η = 2 branch
(:123-133) is not offered: it rebuilds x̂0 from the fresh noise instead of ε̂ (a bug) and is never used (η = 1).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bench.methods.diffusion.gaussian import named_beta_schedule

SAMPLE_STEPS = 500  # configs/DDPM/base.yaml:33
ETA = 1.0  # configs/DDPM/base.yaml:36


def generalized_scheduler(num_train_timesteps: int = 1000, sample_steps: int = SAMPLE_STEPS,
                          beta_schedule: str = "linear") -> Any:
    """A diffusers ``DDIMScheduler`` whose ``step(eta=1)`` is the official generalised step over
    ``sample_steps`` uniformly skipped timesteps of ``beta_schedule`` (the official: linear)."""
    from diffusers import DDIMScheduler

    if num_train_timesteps % sample_steps:
        raise ValueError(f"sample_steps must divide num_train_timesteps for the official uniform skip "
                         f"(range(0, T, T // steps)); got {sample_steps} and {num_train_timesteps}")
    betas = named_beta_schedule(beta_schedule, num_train_timesteps).astype(np.float64)
    scheduler: Any = DDIMScheduler(num_train_timesteps=num_train_timesteps, trained_betas=betas, clip_sample=True,
                                   clip_sample_range=1.0, set_alpha_to_one=True, steps_offset=0,
                                   timestep_spacing="leading", prediction_type="epsilon")
    scheduler.set_timesteps(sample_steps)
    return scheduler


@torch.no_grad()
def sample(eps_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], shape: tuple[int, ...],
           generator: torch.Generator, *, device: torch.device | str = "cpu", sample_steps: int = SAMPLE_STEPS,
           eta: float = ETA, num_train_timesteps: int = 1000) -> torch.Tensor:
    """Images in [−1, 1] of ``shape`` from ``eps_model(x_t, t)``: x_T and every step's noise drawn (in that order,
    on CPU, then moved) from ``generator``, as image_generator.py:95, 108 draw them."""
    scheduler = generalized_scheduler(num_train_timesteps, sample_steps)
    x = torch.randn(shape, generator=generator).to(device)
    for t in scheduler.timesteps:
        noise = torch.randn(shape, generator=generator).to(device)
        steps = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        eps = eps_model(x, steps)
        x = scheduler.step(eps, int(t), x, eta=eta, variance_noise=noise).prev_sample
    return x


@torch.no_grad()
def sample_per_seed(eps_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], shape: tuple[int, ...],
                    seeds: list[int], *, device: torch.device | str = "cpu", sample_steps: int = SAMPLE_STEPS,
                    eta: float = ETA, num_train_timesteps: int = 1000, betas_schedule: str = "linear") -> torch.Tensor:
    """Images [len(seeds), *shape] in [−1, 1], sample i's x_T and per-step noise drawn from its own CPU generator
    seeded ``seeds[i]`` in the official order (x_T, then one draw per step), so an image depends on its seed only,
    never on the batch; a one-image batch equals :func:`sample` with that generator."""
    from bench.seeding import sample_generator

    scheduler = generalized_scheduler(num_train_timesteps, sample_steps, betas_schedule)
    generators = [sample_generator(int(seed)) for seed in seeds]
    x = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)
    for t in scheduler.timesteps:
        noise = torch.stack([torch.randn(shape, generator=g) for g in generators]).to(device)
        steps = torch.full((len(seeds),), int(t), device=device, dtype=torch.long)
        eps = eps_model(x, steps)
        x = scheduler.step(eps, int(t), x, eta=eta, variance_noise=noise).prev_sample
    return x
