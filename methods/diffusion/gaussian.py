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

The training-side math of openai/improved-diffusion (``gaussian_diffusion.py``, ``losses.py``) lives here too, on the
same process: ``q_sample``, the posterior q(x_{t-1} | x_t, x0), ``normal_kl``, the discretized Gaussian decoder
likelihood (its tanh approximation of the normal CDF, as the original) and the variational-bound term in bits/dim
(:meth:`RespacedDiffusion.vb_terms_bpd`). Indices may be one int for the batch or a tensor with one per sample.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

VARIANCE_TYPES = ("learned_range", "fixed_small", "fixed_large")
Index = int | torch.Tensor  # one respaced index for the whole batch, or a [N] tensor of them


def rescaled_timesteps(timesteps: torch.Tensor, num_train_timesteps: int) -> torch.Tensor:
    """What an improved-diffusion model with ``rescale_timesteps`` is fed: the original timestep as a float scaled
    to [0, 1000) (``_WrappedModel``: ``timestep_map[i] * 1000 / T``); guided-diffusion models take the int itself."""
    return timesteps.float() * (1000.0 / num_train_timesteps)


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor | float, mean2: torch.Tensor,
              logvar2: torch.Tensor | float) -> torch.Tensor:
    """Elementwise KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) in nats (improved-diffusion ``normal_kl``)."""
    like = mean1 if isinstance(mean1, torch.Tensor) else mean2
    logvar1, logvar2 = (v if isinstance(v, torch.Tensor) else torch.tensor(v).to(like) for v in (logvar1, logvar2))
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    """The tanh approximation of the standard normal CDF that improved-diffusion's decoder likelihood uses
    (|error| < 3.5e-4; kept instead of ``erf`` so trained losses match the original)."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, means: torch.Tensor,
                                        log_scales: torch.Tensor) -> torch.Tensor:
    """Elementwise log-probability (nats) of 8-bit images ``x`` (rescaled to [-1, 1]) under N(means, e^2log_scales)
    integrated over each pixel's bin of width 2/255; the edge bins extend to +-infinity."""
    if not x.shape == means.shape == log_scales.shape:
        raise ValueError(f"x, means and log_scales must share a shape, got {tuple(x.shape)}, {tuple(means.shape)}, "
                         f"{tuple(log_scales.shape)}")
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_delta))


def mean_flat(x: torch.Tensor) -> torch.Tensor:
    """Mean over all dimensions but the batch."""
    return x.mean(dim=tuple(range(1, x.ndim)))


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
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
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
    def _read(values: np.ndarray, index: Index, like: torch.Tensor) -> torch.Tensor:
        """``values[index]`` as a scalar tensor, or for a [N] index tensor as [N, 1, ...] broadcasting over ``like``."""
        dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
        if isinstance(index, torch.Tensor):
            picked = torch.from_numpy(values).to(like.device)[index.to(like.device).long()].to(dtype)
            return picked.reshape(-1, *([1] * (like.ndim - 1)))
        return torch.tensor(values[index], dtype=dtype, device=like.device)

    def q_sample(self, x_start: torch.Tensor, index: Index, noise: torch.Tensor) -> torch.Tensor:
        """A draw of q(x_i | x0) = N(sqrt(abar_i) x0, (1 - abar_i) I) with the given standard-normal ``noise``."""
        if noise.shape != x_start.shape:
            raise ValueError(f"noise shape {tuple(noise.shape)} differs from x_start's {tuple(x_start.shape)}")
        return (self._read(self.sqrt_alphas_cumprod, index, x_start) * x_start
                + self._read(self.sqrt_one_minus_alphas_cumprod, index, x_start) * noise)

    def q_posterior_mean_variance(self, x_start: torch.Tensor, x: torch.Tensor,
                                  index: Index) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log variance of q(x_{i-1} | x_i, x0)."""
        variance = self._read(self.posterior_variance, index, x).expand_as(x)
        log_variance = self._read(self.posterior_log_variance_clipped, index, x).expand_as(x)
        return self.posterior_mean(x_start, x, index), variance, log_variance

    def vb_terms_bpd(self, model_output: torch.Tensor, x_start: torch.Tensor, x: torch.Tensor, index: Index,
                     clip_denoised: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """One term of the variational bound per sample, in bits per dimension, and the predicted x0: at index 0
        the decoder NLL -log p(x0 | x_1) (discretized Gaussian), otherwise KL(q(x_{i-1} | x_i, x0) || p(x_{i-1} | x_i))
        (improved-diffusion ``_vb_terms_bpd``; its training passes ``clip_denoised=False``)."""
        true_mean, _, true_log_variance = self.q_posterior_mean_variance(x_start, x, index)
        out = self.p_mean_variance(model_output, x, index, clip_denoised=clip_denoised)
        kl = mean_flat(normal_kl(true_mean, true_log_variance, out.mean, out.log_variance)) / math.log(2.0)
        decoder_nll = -discretized_gaussian_log_likelihood(x_start, out.mean, 0.5 * out.log_variance.expand_as(x))
        decoder_nll = mean_flat(decoder_nll) / math.log(2.0)
        first = torch.as_tensor(index, device=x.device) == 0
        return torch.where(first, decoder_nll, kl), out.pred_xstart

    def predict_xstart_from_eps(self, x: torch.Tensor, index: Index, eps: torch.Tensor) -> torch.Tensor:
        return (self._read(self.sqrt_recip_alphas_cumprod, index, x) * x
                - self._read(self.sqrt_recipm1_alphas_cumprod, index, x) * eps)

    def predict_eps_from_xstart(self, x: torch.Tensor, index: Index, pred_xstart: torch.Tensor) -> torch.Tensor:
        return ((self._read(self.sqrt_recip_alphas_cumprod, index, x) * x - pred_xstart)
                / self._read(self.sqrt_recipm1_alphas_cumprod, index, x))

    def posterior_mean(self, x_start: torch.Tensor, x: torch.Tensor, index: Index) -> torch.Tensor:
        """Mean of q(x_{i-1} | x_i, x0) in the respaced process."""
        return (self._read(self.posterior_mean_coef1, index, x) * x_start
                + self._read(self.posterior_mean_coef2, index, x) * x)

    def p_mean_variance(self, model_output: torch.Tensor, x: torch.Tensor, index: Index,
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
