"""guided-diffusion's Gaussian process with timestep respacing: the ancestral sampler ADM and DiT results use.

Written from openai/guided-diffusion (``gaussian_diffusion.py``, ``respace.py``) rather than taken from diffusers
because classifier guidance needs the posterior mean *and* variance of every step, and the released ADM / DiT
models predict a learned variance interpolated between ``log beta_t`` and the clipped posterior log variance of the
*respaced* process, which diffusers' ``DDPMScheduler`` computes differently (it clamps the variance instead of
clipping its first entry, and has no respaced ``log beta``). What matters for parity, all reproduced here:

- the noise schedules (``linear`` scaled by 1000 / T, ``cosine`` with s = 0.008 and betas capped at 0.999) and
  the section striding of ``space_timesteps`` (a running float index rounded half-to-even, ``ddimN`` strides);
- respaced betas ``1 - abar_t / abar_prev`` over the kept steps, the model fed the *original* timestep;
- coefficients computed in float64 and read as float32 (the official ``_extract_into_tensor``); a float64 input
  keeps float64 coefficients, so tests can compare against direct formulas;
- ``clip_denoised`` clamps the predicted x0 to [-1, 1] before the posterior mean.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

VARIANCE_TYPES = ("learned_range", "fixed_small", "fixed_large")


def named_beta_schedule(name: str, num_timesteps: int) -> np.ndarray:
    """guided-diffusion's ``get_named_beta_schedule``: ``linear`` (1e-4..0.02 at T = 1000) or ``cosine``."""
    if name == "linear":
        scale = 1000 / num_timesteps
        return np.linspace(scale * 0.0001, scale * 0.02, num_timesteps, dtype=np.float64)
    if name == "cosine":
        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return np.array([min(1 - alpha_bar((i + 1) / num_timesteps) / alpha_bar(i / num_timesteps), 0.999)
                         for i in range(num_timesteps)], dtype=np.float64)
    raise ValueError(f"unknown noise schedule {name!r}: use 'linear' or 'cosine'")


def space_timesteps(num_timesteps: int, section_counts: str | int | list[int]) -> list[int]:
    """The original timesteps kept by respacing ``"250"``, ``"10,15,20"`` (per equal section) or ``"ddim50"``;
    ``""`` keeps every step (guided-diffusion's empty ``timestep_respacing``)."""
    if section_counts in ("", None):
        return list(range(num_timesteps))
    if isinstance(section_counts, int):
        section_counts = [section_counts]
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            wanted = int(section_counts[len("ddim"):])
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == wanted:
                    return list(range(0, num_timesteps, stride))
            raise ValueError(f"cannot take exactly {wanted} of {num_timesteps} steps with an integer stride")
        section_counts = [int(part) for part in section_counts.split(",")]
    size_per, extra = divmod(num_timesteps, len(section_counts))
    steps: list[int] = []
    start = 0
    for i, count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError(f"cannot divide a section of {size} steps into {count}")
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0  # accumulated, not i * stride: the official float rounding decides ties
        for _ in range(count):
            steps.append(start + round(position))
            position += stride
        start += size
    return sorted(set(steps))


@dataclass
class StepPrediction:
    """One step's model-implied quantities: predicted x0, posterior mean and (log) variance."""

    pred_xstart: torch.Tensor
    mean: torch.Tensor
    variance: torch.Tensor
    log_variance: torch.Tensor


class RespacedDiffusion:
    """The kept steps of a T-step process as a process of their own; index ``i`` (0 = last step) maps to the
    original timestep ``timestep_map[i]`` that the model sees. Epsilon-prediction models only (all ADM/DiT ones)."""

    def __init__(self, betas: np.ndarray, use_timesteps: list[int], variance_type: str = "learned_range") -> None:
        if variance_type not in VARIANCE_TYPES:
            raise ValueError(f"variance_type must be one of {VARIANCE_TYPES}, got {variance_type!r}")
        base_alphas_cumprod = np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))
        kept = sorted(use_timesteps)
        if not kept or kept[0] < 0 or kept[-1] >= len(base_alphas_cumprod):
            raise ValueError(f"use_timesteps must lie in [0, {len(base_alphas_cumprod)}), got {kept[:3]}...")
        last, new_betas = 1.0, []
        for t in kept:
            new_betas.append(1 - base_alphas_cumprod[t] / last)
            last = base_alphas_cumprod[t]
        self.timestep_map = torch.tensor(kept, dtype=torch.long)
        self.num_train_timesteps = len(base_alphas_cumprod)
        self.variance_type = variance_type
        self.betas = np.array(new_betas, dtype=np.float64)
        self.num_timesteps = len(self.betas)

        alphas = 1.0 - self.betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1)
        self.posterior_variance = self.betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # the posterior variance is 0 at the last step: its log is clipped to the next entry
        self.posterior_log_variance_clipped = np.log(np.append(self.posterior_variance[1],
                                                               self.posterior_variance[1:]))
        self.posterior_mean_coef1 = self.betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        self.log_betas = np.log(self.betas)
        self.fixed_large_variance = np.append(self.posterior_variance[1], self.betas[1:])

    @classmethod
    def from_schedule(cls, noise_schedule: str, num_train_timesteps: int, respacing: str | int,
                      variance_type: str = "learned_range") -> RespacedDiffusion:
        """guided-diffusion's ``create_gaussian_diffusion`` for an epsilon model with ``timestep_respacing``."""
        return cls(named_beta_schedule(noise_schedule, num_train_timesteps),
                   space_timesteps(num_train_timesteps, respacing), variance_type)

    def model_timesteps(self, index: int, batch: int, device: torch.device | str) -> torch.Tensor:
        """The original timestep the model is fed at respaced ``index`` (guided-diffusion's ``_WrappedModel``)."""
        return self.timestep_map[index].repeat(batch).to(device)

    @staticmethod
    def _read(values: np.ndarray, index: int, like: torch.Tensor) -> torch.Tensor:
        dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
        return torch.tensor(values[index], dtype=dtype, device=like.device)

    def predict_xstart_from_eps(self, x: torch.Tensor, index: int, eps: torch.Tensor) -> torch.Tensor:
        return (self._read(self.sqrt_recip_alphas_cumprod, index, x) * x
                - self._read(self.sqrt_recipm1_alphas_cumprod, index, x) * eps)

    def predict_eps_from_xstart(self, x: torch.Tensor, index: int, pred_xstart: torch.Tensor) -> torch.Tensor:
        return ((self._read(self.sqrt_recip_alphas_cumprod, index, x) * x - pred_xstart)
                / self._read(self.sqrt_recipm1_alphas_cumprod, index, x))

    def posterior_mean(self, x_start: torch.Tensor, x: torch.Tensor, index: int) -> torch.Tensor:
        """Mean of q(x_{i-1} | x_i, x0) in the respaced process."""
        return (self._read(self.posterior_mean_coef1, index, x) * x_start
                + self._read(self.posterior_mean_coef2, index, x) * x)

    def p_mean_variance(self, model_output: torch.Tensor, x: torch.Tensor, index: int,
                        clip_denoised: bool = True) -> StepPrediction:
        """Mean and variance of p(x_{i-1} | x_i) from the model output (epsilon, plus the variance channels of a
        ``learned_range`` model: v in [-1, 1] interpolates log beta_i and the clipped posterior log variance)."""
        channels = x.shape[1]
        if self.variance_type == "learned_range":
            if model_output.shape[1] != 2 * channels:
                raise ValueError(f"a learned-variance model returns {2 * channels} channels for {channels}-channel "
                                 f"samples, got {model_output.shape[1]}")
            eps, values = model_output.split(channels, dim=1)
            min_log = self._read(self.posterior_log_variance_clipped, index, x)
            max_log = self._read(self.log_betas, index, x)
            fraction = (values + 1) / 2
            log_variance = fraction * max_log + (1 - fraction) * min_log
            variance = torch.exp(log_variance)
        else:
            eps = model_output[:, :channels]
            table = self.posterior_variance if self.variance_type == "fixed_small" else self.fixed_large_variance
            log_table = (self.posterior_log_variance_clipped if self.variance_type == "fixed_small"
                         else np.log(self.fixed_large_variance))
            variance = self._read(table, index, x).expand_as(x)
            log_variance = self._read(log_table, index, x).expand_as(x)
        pred_xstart = self.predict_xstart_from_eps(x, index, eps)
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        return StepPrediction(pred_xstart, self.posterior_mean(pred_xstart, x, index), variance, log_variance)
