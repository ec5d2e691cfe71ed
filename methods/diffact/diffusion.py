"""DiffAct's Gaussian diffusion over action sequences: cosine schedule, x0 parameterisation, DDIM sampling.

Action sequences live in [-s, s] (``snr_scale`` s): a one-hot sequence maps to ±s, the decoder's softmax output
to ``(p * 2 - 1) * s``. The schedule buffers are float64, as in the official model (its released state dicts
carry them in float64).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def cosine_beta_schedule(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's cosine schedule (float64), betas clipped to [0, 0.999]."""
    x = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64)
    alphas_cumprod = torch.cos(((x / timesteps) + s) / (1 + s) * math.pi * 0.5) ** 2
    alphas_cumprod = alphas_cumprod / alphas_cumprod[0]
    return torch.clip(1 - alphas_cumprod[1:] / alphas_cumprod[:-1], 0, 0.999)


def to_signal(probs: torch.Tensor, scale: float) -> torch.Tensor:
    """[0, 1] -> [-scale, scale]."""
    return (probs * 2 - 1.0) * scale


def from_signal(x: torch.Tensor, scale: float) -> torch.Tensor:
    """[-scale, scale] -> [0, 1]."""
    return (x / scale + 1) / 2


def ddim_time_pairs(total_timesteps: int, sampling_timesteps: int) -> list[tuple[int, int]]:
    """(t, t_next) pairs of the DDIM chain: ``linspace(-1, T-1, steps+1)`` truncated to int, reversed.

    For T = 1000 and 25 steps: (999, 959), (959, 919), ..., (39, -1); t_next = -1 marks the last step.
    """
    if not 0 < sampling_timesteps <= total_timesteps:
        raise ValueError(f"sampling_timesteps must be in [1, {total_timesteps}], got {sampling_timesteps}")
    times = torch.linspace(-1, total_timesteps - 1, steps=sampling_timesteps + 1).int().tolist()[::-1]
    return list(zip(times[:-1], times[1:], strict=True))


def gather(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """``values[t]`` shaped [B, 1, ..., 1] to broadcast over a [B, ...] tensor of ``ndim`` dims."""
    return values.gather(-1, t).reshape(t.shape[0], *((1,) * (ndim - 1)))


class GaussianDiffusionBuffers(nn.Module):
    """The schedule as registered buffers, under the official names (they are part of ``release.model``)."""

    def __init__(self, timesteps: int = 1000) -> None:
        super().__init__()
        betas = cosine_beta_schedule(timesteps)
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = F.pad(alphas_cumprod[:-1], (1, 0), value=1.0)
        self.num_timesteps = timesteps
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        buffers = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": torch.sqrt(alphas_cumprod),
            "sqrt_one_minus_alphas_cumprod": torch.sqrt(1.0 - alphas_cumprod),
            "log_one_minus_alphas_cumprod": torch.log(1.0 - alphas_cumprod),
            "sqrt_recip_alphas_cumprod": torch.sqrt(1.0 / alphas_cumprod),
            "sqrt_recipm1_alphas_cumprod": torch.sqrt(1.0 / alphas_cumprod - 1),
            "posterior_variance": posterior_variance,
            "posterior_log_variance_clipped": torch.log(posterior_variance.clamp(min=1e-20)),
            "posterior_mean_coef1": betas * torch.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * torch.sqrt(alphas) / (1.0 - alphas_cumprod),
        }
        for name, value in buffers.items():
            self.register_buffer(name, value)

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Forward diffusion: sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε."""
        return (gather(self.sqrt_alphas_cumprod, t, x_start.ndim) * x_start
                + gather(self.sqrt_one_minus_alphas_cumprod, t, x_start.ndim) * noise)

    def noise_from_start(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """ε implied by x_t and a predicted x0: (x_t / sqrt(ᾱ_t) - x0) / sqrt(1/ᾱ_t - 1)."""
        return ((gather(self.sqrt_recip_alphas_cumprod, t, x_t.ndim) * x_t - x0)
                / gather(self.sqrt_recipm1_alphas_cumprod, t, x_t.ndim))

    def ddim_step(self, x0: torch.Tensor, eps: torch.Tensor, t: int, t_next: int, eta: float,
                  noise: torch.Tensor) -> torch.Tensor:
        """x_{t_next} = sqrt(ᾱ') x0 + sqrt(1 - ᾱ' - σ²) ε + σ z, σ = η sqrt((1 - ᾱ/ᾱ')(1 - ᾱ')/(1 - ᾱ))."""
        alpha, alpha_next = self.alphas_cumprod[t], self.alphas_cumprod[t_next]
        sigma = eta * ((1 - alpha / alpha_next) * (1 - alpha_next) / (1 - alpha)).sqrt()
        c = (1 - alpha_next - sigma ** 2).sqrt()
        return x0 * alpha_next.sqrt() + c * eps + sigma * noise
