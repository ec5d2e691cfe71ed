"""``AdaptiveMomentumScheduler``: the Adaptive Momentum Sampler (AMS; Wang, Dinh, Liu and Xu, IJCAI 2024,
"Boosting Diffusion Models with an Adaptive Momentum Sampler") as a diffusers scheduler.

AMS treats reverse diffusion like SGD in normalised coordinates x/sqrt(alpha_bar): each step's increment of a
generalised DDIM/DDPM sampler is smoothed by a momentum EMA and/or divided by an RMS-style adaptive pace, so
directions from early (semantic) steps carry into late (detail) steps. Training-free; any epsilon-prediction model.

Faithful to the official code (``ShinyGua/DPMs-with-Adam``, ``image_generator.py``), including its quirks:

- the square root of the second-moment EMA is stored back into ``v`` (``v <- sqrt(c v + (1 - c) n^2) + 1e-8``),
  so the next EMA mixes square-rooted values (not standard RMSProp/Adam);
- the momentum weight lambda is indexed as ``lam[int((T - 1 - t) / skip)]``, i.e. as though the grid were
  uniform, also with ``timestep_spacing="quad"`` (``lambda_index="official"``; ``"step"`` indexes by the step's
  position instead);
- the uniform grid is ``range(0, T, T // S)`` with no offset. diffusers' ``"leading"`` spacing with
  ``steps_offset=0`` gives the same grid when ``T % S == 0``; with ``steps_offset=1`` (some model configs) it is
  shifted by one, and when ``T % S != 0`` the official grid has more than ``S`` entries and starts higher (kept
  as is; e.g. S=30: 31 steps from t=990, where "leading" gives 30 steps from t=957).

Not bit-identical to the official code: betas are built as diffusers builds them (``torch.linspace`` in float32;
the official code rounds a float64 ``np.linspace`` to float32, so alpha_bar differs by <= 6e-8; pass
``trained_betas`` for the official values), and the step coefficients are computed in float64 rather than float32.

Drop-in use: ``DDPMPipeline(unet=unet, scheduler=AdaptiveMomentumScheduler(method="adam", eta=0.0))``; pass a
list of per-sample CPU generators for batch-size-independent results. ``DDIMPipeline`` is *not* a drop-in: its
``__init__`` converts any scheduler to ``DDIMScheduler.from_config(...)``, which silently drops AMS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.schedulers.scheduling_ddim import betas_for_alpha_bar
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor

from bench.methods.diffusion.adapter import NOISE_SCHEDULE_KEYS

METHODS = ("o", "momentum", "rms", "adam")
SPACINGS = ("uniform", "quad")
LAMBDA_INDEXES = ("official", "step")
BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
V_OFFSET = 1e-8  # added to sqrt(v) after every EMA update, as in the official code


@dataclass
class AMSSchedulerOutput(BaseOutput):
    """Output of ``AdaptiveMomentumScheduler.step``.

    Args:
        prev_sample: ``x_s``, the sample at the next (smaller) sampled timestep; the next model input.
        pred_original_sample: the model's ``x_0`` estimate ``(x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)``
            at the current timestep (before momentum; for previews or guidance).
    """

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor | None = None


def _choice(name: str, value: object, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"AdaptiveMomentumScheduler: {name} must be one of {list(choices)}, got {value!r}")


class AdaptiveMomentumScheduler(SchedulerMixin, ConfigMixin):
    """Adaptive Momentum Sampler (AMS, Wang et al., IJCAI 2024): generalised DDIM/DDPM steps whose increments in
    normalised coordinates get momentum (``method="momentum"``), an adaptive pace (``"rms"``), both (``"adam"``)
    or neither (``"o"``, the plain base sampler).

    For consecutive sampled timesteps ``t -> s`` (``alpha_bar_s = 1`` after the last step), with ``eps`` the model
    output and ``z ~ N(0, I)``:

    - ``eta != 2`` (DDIM for 0, DDPM fixed-small for 1): ``c1 = eta sqrt((1 - a_t/a_s)(1 - a_s)/(1 - a_t))``,
      ``c2 = sqrt(1 - a_s - c1^2)``, ``p1 = c2/sqrt(a_s) - sqrt(1 - a_t)/sqrt(a_t)``, ``p2 = c1/sqrt(a_s)``;
    - ``eta == 2`` (DDPM fixed-large): ``beta = 1 - a_t/a_s``, ``c1 = sqrt(beta)`` (0 at ``t == 0``),
      ``p1 = -sqrt(1/a_t - 1) beta/(1 - a_t)``, ``p2 = c1/sqrt(a_s)``;
    - ``dx = p1 eps + p2 z``; rms/adam: ``v <- sqrt(c v + (1 - c) normalize(dx, dim=1)^2) + 1e-8`` (``v_0 = 1``;
      the square root is stored back, as coded officially); momentum/adam: ``m <- w1 m + w2 dx`` with
      ``(w1, w2) = (sin^2, cos^2)(lambda pi/2)`` (``momentum_mode=2``) or ``(sin, cos)`` (mode 1), ``m_0 = 0``,
      then ``dx <- m``;
    - ``x_s = sqrt(a_s) (x_t/sqrt(a_t) + dx/v)``.

    lambda runs linearly from ``b_min`` to ``b_max`` over the trajectory (reversed with ``ascending=False``),
    indexed as the official code does (``lambda_index="official"``: ``lam[int((T - 1 - t) / skip)]`` over
    ``int(T / skip)`` values, ``skip = int(T / S)``, also for the quad grid) or by step position (``"step"``).
    Noise is drawn only where ``p2 != 0``, so with ``eta`` 1 or 2 the draws line up with ``DDPMScheduler`` (which
    draws for ``t > 0``). Coefficients are computed in float64 from the float32 ``alphas_cumprod`` and applied in
    the sample's dtype.

    The state (``m``, ``v``) belongs to one trajectory: ``set_timesteps`` resets it. Use it as a drop-in with
    ``DDPMPipeline(unet=..., scheduler=AdaptiveMomentumScheduler(...))``; not with ``DDIMPipeline``, which converts
    every scheduler to ``DDIMScheduler`` in its ``__init__``. See the module docstring for the faithfulness notes.
    """

    #: the keys of a model folder's scheduler config it takes (the noise schedule; the time grid is its own)
    model_config_keys = NOISE_SCHEDULE_KEYS

    order = 1

    @register_to_config
    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_start: float = 0.0001,
        beta_end: float = 0.02,
        beta_schedule: str = "linear",
        trained_betas: np.ndarray | list[float] | None = None,
        method: str = "momentum",
        eta: float = 1.0,
        b_min: float = 0.0,
        b_max: float = 0.1,
        c: float = 0.999,
        momentum_mode: int = 2,
        ascending: bool = True,
        timestep_spacing: str = "uniform",
        lambda_index: str = "official",
        prediction_type: str = "epsilon",
    ) -> None:
        _choice("method", method, METHODS)
        _choice("timestep_spacing", timestep_spacing, SPACINGS)
        _choice("lambda_index", lambda_index, LAMBDA_INDEXES)
        _choice("momentum_mode", momentum_mode, (1, 2))
        if prediction_type != "epsilon":
            raise ValueError(f"AdaptiveMomentumScheduler: only prediction_type='epsilon' is supported (AMS steps on "
                             f"the predicted noise), got {prediction_type!r}")
        if eta < 0:
            raise ValueError(f"AdaptiveMomentumScheduler: eta must be >= 0 (0 DDIM, 1 DDPM fixed-small, 2 DDPM "
                             f"fixed-large), got {eta!r}")
        if not 0.0 <= c <= 1.0:
            raise ValueError(f"AdaptiveMomentumScheduler: c (the second-moment EMA weight) must lie in [0, 1], "
                             f"got {c!r}")
        if num_train_timesteps < 1:
            raise ValueError(f"AdaptiveMomentumScheduler: num_train_timesteps must be >= 1, got {num_train_timesteps}")

        if trained_betas is not None:
            self.betas = torch.tensor(trained_betas, dtype=torch.float32)
            if self.betas.shape != (num_train_timesteps,):
                raise ValueError(f"AdaptiveMomentumScheduler: trained_betas has shape {tuple(self.betas.shape)}, "
                                 f"expected ({num_train_timesteps},)")
        else:
            _choice("beta_schedule", beta_schedule, BETA_SCHEDULES)
            if beta_schedule == "linear":
                self.betas = torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
            elif beta_schedule == "scaled_linear":
                self.betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps,
                                            dtype=torch.float32) ** 2
            else:
                self.betas = betas_for_alpha_bar(num_train_timesteps)
        self.alphas = 1.0 - self.betas
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)
        # Exact float64 copies of the float32 values: the per-step coefficients are computed from these.
        self._alpha_bar: list[float] = self.alphas_cumprod.double().tolist()

        self.init_noise_sigma = 1.0
        self.num_inference_steps: int | None = None
        self.timesteps = torch.arange(num_train_timesteps - 1, -1, -1, dtype=torch.int64)
        self.lambdas: list[float] | None = None
        self._timestep_list: list[int] = []
        self._step_index = 0
        self.m: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    # ------------------------------------------------------------------ grid and schedules
    def _grid(self, num_inference_steps: int) -> list[int]:
        """The official sampled timesteps in ascending order (the loop walks them in reverse)."""
        T = self.config.num_train_timesteps
        if self.config.timestep_spacing == "uniform":
            return list(range(0, T, T // num_inference_steps))
        return [int(s) for s in np.linspace(0, np.sqrt(0.8 * T), num_inference_steps) ** 2]

    def _lambda_schedule(self, num_inference_steps: int, timesteps: list[int]) -> list[float]:
        """The momentum weight lambda of each step, in sampling order (Python floats)."""
        cfg = self.config
        lo, hi = (cfg.b_min, cfg.b_max) if cfg.ascending else (cfg.b_max, cfg.b_min)
        if cfg.lambda_index == "step":
            return [float(x) for x in np.linspace(lo, hi, len(timesteps))]
        T = cfg.num_train_timesteps
        skip = int(T / num_inference_steps)
        lam = np.linspace(lo, hi, int(T / skip))
        index = [int((T - 1 - t) / skip) for t in timesteps]
        bad = [(t, i) for t, i in zip(timesteps, index, strict=True) if not 0 <= i < len(lam)]
        if bad:
            t, i = bad[0]
            raise ValueError(
                f"AdaptiveMomentumScheduler: with timestep_spacing={cfg.timestep_spacing!r}, T={T} and "
                f"num_inference_steps={num_inference_steps} the official momentum index int((T - 1 - t) / skip) = {i} "
                f"at t={t} falls outside its {len(lam)} lambda values (the official code raises IndexError there; "
                f"the grid has {len(timesteps)} steps). Use lambda_index='step', or a step count that divides T.")
        return [float(lam[i]) for i in index]

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        """Set the sampled timesteps (descending) and reset the momentum/pace state and the step counter.

        Args:
            num_inference_steps: ``S``, the number of sampling steps (the uniform grid has more than ``S`` entries
                when ``T % S != 0``, as in the official code).
            device: where ``self.timesteps`` lives.
        """
        T = self.config.num_train_timesteps
        if not 1 <= num_inference_steps <= T:
            raise ValueError(f"AdaptiveMomentumScheduler: num_inference_steps must lie in [1, {T}] "
                             f"(num_train_timesteps), got {num_inference_steps}")
        timesteps = self._grid(num_inference_steps)[::-1]
        self.lambdas = (self._lambda_schedule(num_inference_steps, timesteps)
                        if self.config.method in ("momentum", "adam") else None)
        self.num_inference_steps = num_inference_steps
        self._timestep_list = timesteps
        self.timesteps = torch.tensor(timesteps, dtype=torch.int64, device=device)
        self.reset_state()

    def reset_state(self) -> None:
        """Forget the momentum ``m`` and pace ``v`` and restart the step counter (``set_timesteps`` calls this)."""
        self.m = None
        self.v = None
        self._step_index = 0

    # ------------------------------------------------------------------ stepping
    def _index_for_timestep(self, timestep: int | torch.Tensor) -> int:
        if self.num_inference_steps is None:
            raise ValueError("AdaptiveMomentumScheduler: call set_timesteps(num_inference_steps) before step()")
        t = int(timestep.item() if isinstance(timestep, torch.Tensor) else timestep)
        matches = [i for i, ts in enumerate(self._timestep_list) if ts == t]
        if not matches:
            raise ValueError(f"AdaptiveMomentumScheduler: timestep {t} is not in the sampled grid "
                             f"{self._timestep_list}")
        # The quad grid can repeat a timestep (e.g. 0, 0 for S >= 50): take the first occurrence not yet stepped.
        later = [i for i in matches if i >= self._step_index]
        if not later:
            raise ValueError(f"AdaptiveMomentumScheduler: timestep {t} was already stepped in this trajectory; call "
                             "set_timesteps() before starting a new trajectory (it resets the momentum state)")
        return later[0]

    def _coefficients(self, index: int, eta: float) -> tuple[float, float, float, float]:
        """``(a_t, a_s, p1, p2)`` of the step at position ``index`` in float64."""
        t = self._timestep_list[index]
        s = self._timestep_list[index + 1] if index + 1 < len(self._timestep_list) else -1
        a_t = self._alpha_bar[t]
        a_s = self._alpha_bar[s] if s >= 0 else 1.0
        if eta == 2:
            beta = 1.0 - a_t / a_s
            c1 = 0.0 if t == 0 else math.sqrt(beta)
            p1 = -math.sqrt(1.0 / a_t - 1.0) * beta / (1.0 - a_t)
        else:
            c1 = eta * math.sqrt((1.0 - a_t / a_s) * (1.0 - a_s) / (1.0 - a_t))
            c2_sq = (1.0 - a_s) - c1**2
            if c2_sq < 0:
                raise ValueError(f"AdaptiveMomentumScheduler: eta={eta} is too large for the step {t} -> {s} "
                                 f"(1 - alpha_bar_s - sigma^2 = {c2_sq:.3g} < 0); use eta in [0, 1] or eta=2")
            p1 = math.sqrt(c2_sq) / math.sqrt(a_s) - math.sqrt(1.0 - a_t) / math.sqrt(a_t)
        p2 = c1 / math.sqrt(a_s)
        return a_t, a_s, p1, p2

    def _check_state(self, sample: torch.Tensor) -> None:
        state = self.m if self.m is not None else self.v
        if state is not None and state.shape != sample.shape:
            raise ValueError(f"AdaptiveMomentumScheduler: sample shape {tuple(sample.shape)} differs from the "
                             f"momentum state's {tuple(state.shape)}; call set_timesteps() before a new trajectory")

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_dict: bool = True,
        eta: float | None = None,
        variance_noise: torch.Tensor | None = None,
        **kwargs: object,
    ) -> AMSSchedulerOutput | tuple[torch.Tensor, torch.Tensor]:
        """One AMS step from ``timestep`` to the next sampled timestep.

        Args:
            model_output: the predicted noise ``eps(x_t, t)``.
            timestep: the current timestep, an entry of ``self.timesteps`` (int or tensor).
            sample: ``x_t``.
            generator: a generator, or a list of per-sample CPU generators, for the noise ``z`` (drawn only when the
                step's noise coefficient is non-zero).
            return_dict: return an ``AMSSchedulerOutput`` (else a tuple ``(prev_sample, pred_original_sample)``).
            eta: overrides ``config.eta`` for this step.
            variance_noise: ``z`` itself, instead of drawing it with ``generator``.
            **kwargs: ignored (e.g. ``use_clipped_model_output``, which ``DDIMPipeline`` passes).
        """
        eta = self.config.eta if eta is None else eta
        if eta < 0:
            raise ValueError(f"AdaptiveMomentumScheduler: eta must be >= 0, got {eta!r}")
        if variance_noise is not None and generator is not None:
            raise ValueError("AdaptiveMomentumScheduler: pass either generator or variance_noise, not both")
        index = self._index_for_timestep(timestep)
        self._check_state(sample)
        a_t, a_s, p1, p2 = self._coefficients(index, eta)
        method = self.config.method

        pred_original_sample = (sample - math.sqrt(1.0 - a_t) * model_output) / math.sqrt(a_t)
        dx = p1 * model_output
        if p2 != 0.0:
            if variance_noise is None:
                variance_noise = randn_tensor(model_output.shape, generator=generator, device=model_output.device,
                                              dtype=model_output.dtype)
            dx = dx + p2 * variance_noise.to(device=dx.device, dtype=dx.dtype)

        if method in ("rms", "adam"):
            if self.v is None:
                self.v = torch.ones_like(sample)
            c = self.config.c
            # F.normalize(dx, p=2, dim=1) as the official code, written out: torch's vector_norm over a 3-wide
            # non-last dim takes 14 ms per CIFAR batch of 128 on CPU, the sum of squares 0.2 ms
            n = dx / dx.square().sum(dim=1, keepdim=True).sqrt().clamp_min(1e-12)
            self.v = torch.sqrt(c * self.v.to(dx) + (1.0 - c) * n.pow(2)) + V_OFFSET

        if method in ("momentum", "adam"):
            if self.m is None:
                self.m = torch.zeros_like(sample)
            angle = self.lambdas[index] * math.pi / 2
            if self.config.momentum_mode == 2:
                w1, w2 = math.sin(angle) ** 2, math.cos(angle) ** 2
            else:
                w1, w2 = math.sin(angle), math.cos(angle)
            self.m = w1 * self.m.to(dx) + w2 * dx
            dx = self.m

        if method in ("rms", "adam"):
            dx = dx / self.v
        prev_sample = math.sqrt(a_s) * (sample / math.sqrt(a_t) + dx)
        self._step_index = index + 1

        if not return_dict:
            return prev_sample, pred_original_sample
        return AMSSchedulerOutput(prev_sample=prev_sample, pred_original_sample=pred_original_sample)

    # ------------------------------------------------------------------ diffusers plumbing
    def scale_model_input(self, sample: torch.Tensor, timestep: int | torch.Tensor | None = None) -> torch.Tensor:
        """Identity (the model input needs no scaling); for interchangeability with other schedulers."""
        return sample

    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor,
                  timesteps: torch.IntTensor) -> torch.Tensor:
        """Forward diffusion ``sqrt(a_t) x_0 + sqrt(1 - a_t) noise``, per-sample ``timesteps`` (as DDPMScheduler)."""
        alphas_cumprod = self.alphas_cumprod.to(device=original_samples.device, dtype=original_samples.dtype)
        a = alphas_cumprod[timesteps.to(original_samples.device)].flatten()
        shape = (-1,) + (1,) * (original_samples.ndim - 1)
        return a.sqrt().view(shape) * original_samples + (1 - a).sqrt().view(shape) * noise

    def __len__(self) -> int:
        return self.config.num_train_timesteps
