"""ConFiner's scheduler math (arXiv 2408.13423 v4, §3 and Algorithm 1): x̂0 ↔ x_t conversions with each expert's own
ᾱ, the control structure's re-noising to T_e, and the refinement stage's steps (spatial only, temporal only,
coordinated), with NFE and wall time counted per expert.

The notation of the paper: Denoising(θ, x_t, t, S) → (x̂0, x_{t−1}) with DDIM (η = 0) under scheduler S,
x̂0 = (x_t − √(1 − ᾱ_t) ε_θ) / √ᾱ_t and x_{t−1} = √ᾱ_{t−1} x̂0 + √(1 − ᾱ_{t−1}) ε_θ. An expert's ᾱ is any diffusers
scheduler's ``alphas_cumprod`` (DDIM, Euler, DPM-Solver all carry it), so the experts' native schedulers are only
read, never stepped, in the refinement stage. Choices the paper leaves open (named options, defaults stated):

- refinement timesteps: T_i2 uniformly spaced integers from T_e down, t_k = round(T_e (T_i2 − k) / T_i2), each
  stepping to the next and the last to 0 (so T_e = 100, T_i2 = 5 gives 100 → 80 → 60 → 40 → 20 → 0; diffusers'
  DDIM convention: ᾱ of a timestep below 0 is the scheduler's ``final_alpha_cumprod``);
- ``noise``: the re-noising of sub-steps 2 and 4 (Eqs. 9 and 11) uses ``"fresh"`` Gaussian noise (default, the
  paper's ε) or ``"predicted"``, the expert's own predicted ε (deterministic; with identical experts the coordinated
  step then is exactly one DDIM step);
- temporal-only refinement re-noises V0 on the temporal expert's own schedule (the chain then never leaves it);
  spatial-only and coordinated refinement re-noise on the spatial expert's schedule (the text's S_s; Algorithm 1's
  "Add noise(V0, Te, Con)" differs only by the control schedule, nearly equal for SD-family schedules).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from bench.methods.confiner.layouts import LAYOUTS, from_expert, resize_clean, to_expert

MODES: tuple[str, ...] = ("spatial", "temporal", "coordinated")
NOISE_MODES: tuple[str, ...] = ("fresh", "predicted")
# UNet evaluations of one step per mode (three for coordinated: spatial, temporal, spatial; §3 of the sheet).
EVALS_PER_STEP = {"spatial": {"spatial": 1}, "temporal": {"temporal": 1}, "coordinated": {"spatial": 2, "temporal": 1}}

EpsModel = Callable[[torch.Tensor, int], torch.Tensor]
# one generator for the batch, or one per batch row (per-sample seeds), or None (torch's global RNG)
Generators = torch.Generator | Sequence[torch.Generator] | None


@dataclass
class Expert:
    """An ε-prediction model with its own noise schedule.

    Args:
        name: the key its NFE and time are counted under (``"spatial"``, ``"temporal"``, ``"control"``).
        eps: ``eps(x, t)`` → ε̂ in the expert's ``layout`` (text conditioning and CFG closed over by the adapter).
        alphas_cumprod: its ᾱ_t for t = 0 … T−1 (a diffusers scheduler's ``alphas_cumprod``).
        final_alpha_cumprod: ᾱ of a timestep below 0 (DDIM's ``final_alpha_cumprod``; 1.0 if its scheduler has none).
        layout: ``"video"`` ([B, C, F, h, w]) or ``"frames"`` ([B·F, C, h, w]).
        size: its native latent (h, w) under the ``"native"`` resize policy; None: the shared working size.
        guided: whether one call evaluates the UNet on a CFG-doubled batch (counted as two UNet evaluations).
    """

    name: str
    eps: EpsModel
    alphas_cumprod: torch.Tensor
    final_alpha_cumprod: float = 1.0
    layout: str = "video"
    size: tuple[int, int] | None = None
    guided: bool = False

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"Expert {self.name!r}: layout must be one of {LAYOUTS}, got {self.layout!r}")
        ac = torch.as_tensor(self.alphas_cumprod, dtype=torch.float64).flatten()
        if ac.numel() < 2 or not bool(((ac > 0) & (ac <= 1)).all()):
            raise ValueError(f"Expert {self.name!r}: alphas_cumprod must be a 1-D schedule of values in (0, 1], got "
                             f"{ac.numel()} values")
        self.alphas_cumprod = ac

    @classmethod
    def from_scheduler(cls, name: str, eps: EpsModel, scheduler: Any, **kwargs: Any) -> Expert:
        """An expert on a diffusers scheduler's ᾱ (and DDIM's ``final_alpha_cumprod`` where it has one)."""
        final = getattr(scheduler, "final_alpha_cumprod", None)
        return cls(name, eps, scheduler.alphas_cumprod, 1.0 if final is None else float(final), **kwargs)

    def alpha_bar(self, t: int) -> float:
        """ᾱ_t on this expert's schedule (``final_alpha_cumprod`` for t < 0)."""
        if t >= self.alphas_cumprod.numel():
            raise ValueError(f"Expert {self.name!r}: timestep {t} is beyond its {self.alphas_cumprod.numel()}-step "
                             f"schedule")
        return self.final_alpha_cumprod if t < 0 else float(self.alphas_cumprod[t])

    def predict(self, x: torch.Tensor, t: int, meter: NFEMeter | None = None) -> torch.Tensor:
        """ε̂(x, t) for the shared latent x [B, C, F, h, w], converted to and from the expert's layout; counted."""
        out = from_expert(self.eps(to_expert(x, self.layout), t), self.layout, x.shape[0])
        if out.shape != x.shape:
            raise ValueError(f"Expert {self.name!r} returned shape {tuple(out.shape)} for input {tuple(x.shape)}")
        if meter is not None:
            meter.count(self.name, 2 if self.guided else 1)
        return out


@dataclass
class NFEMeter:
    """Per video batch: ε-model calls and UNet evaluations (CFG doubles) per expert, wall seconds per stage."""

    calls: dict[str, int] = field(default_factory=dict)
    evals: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def count(self, name: str, evals: int = 1) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        self.evals[name] = self.evals.get(name, 0) + evals

    @contextmanager
    def stage(self, name: str, device: torch.device | None = None) -> Iterator[None]:
        """Time a stage (synchronising CUDA at both ends, so the seconds are the GPU's)."""
        sync = device is not None and device.type == "cuda"
        if sync:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        try:
            yield
        finally:
            if sync:
                torch.cuda.synchronize(device)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    @property
    def total_evals(self) -> int:
        return sum(self.evals.values())


def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """x̂0 = (x_t − √(1 − ᾱ) ε) / √ᾱ."""
    return (x_t - math.sqrt(1.0 - alpha_bar) * eps) / math.sqrt(alpha_bar)


def add_noise(x0: torch.Tensor, noise: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """x_t = √ᾱ x0 + √(1 − ᾱ) ε."""
    return math.sqrt(alpha_bar) * x0 + math.sqrt(1.0 - alpha_bar) * noise


def convert(x_t: torch.Tensor, eps: torch.Tensor, t: int, source: Expert, target: Expert,
            noise: torch.Tensor | None = None) -> torch.Tensor:
    """x_t on ``source``'s schedule → x_t on ``target``'s through x̂0 (the chain's hinge): x̂0 with source's ᾱ_t,
    re-noised with target's ᾱ_t and ``noise`` (None: ``eps`` itself, so converting back returns x_t)."""
    x0 = predict_x0(x_t, eps, source.alpha_bar(t))
    return add_noise(x0, eps if noise is None else noise, target.alpha_bar(t))


def renoise_structure(v0: torch.Tensor, t_e: int, expert: Expert, noise: torch.Tensor) -> torch.Tensor:
    """V′_{Te} = √ᾱ_{Te} V0 + √(1 − ᾱ_{Te}) ε on ``expert``'s schedule (the spatial expert's S_s, Eq. 6)."""
    if not 0 <= t_e < expert.alphas_cumprod.numel():
        raise ValueError(f"T_e must be a timestep of {expert.name!r}'s schedule, 0 ≤ T_e < "
                         f"{expert.alphas_cumprod.numel()}; got {t_e}")
    return add_noise(v0, noise, expert.alpha_bar(t_e))


def refinement_timesteps(t_e: int, steps: int) -> list[tuple[int, int]]:
    """The (t_k, t_{k+1}) pairs of T_i2 = ``steps`` uniformly spaced steps from T_e to 0 (module docstring)."""
    if steps < 1 or t_e < steps:
        raise ValueError(f"refinement needs 1 ≤ T_i2 ≤ T_e (distinct integer timesteps); got T_i2={steps}, T_e={t_e}")
    ts = [round(t_e * (steps - k) / steps) for k in range(steps + 1)]
    return list(zip(ts[:-1], ts[1:], strict=True))


def ddim_step(expert: Expert, x: torch.Tensor, t: int, t_prev: int,
              meter: NFEMeter | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Denoising(θ, x_t, t, S) → (x̂0, x_{t_prev}): one η = 0 DDIM step of ``expert`` on its own schedule."""
    eps = expert.predict(x, t, meter)
    x0 = predict_x0(x, eps, expert.alpha_bar(t))
    return x0, add_noise(x0, eps, expert.alpha_bar(t_prev))


def _noise_like(x: torch.Tensor, generator: Generators) -> torch.Tensor:
    """Fresh N(0, I) noise shaped like ``x``, drawn on the CPU in float32 (device-independent), then moved. A
    sequence of generators draws row i of the batch from generator i (a video's noise then does not depend on the
    other videos of its batch)."""
    if isinstance(generator, Sequence):
        if len(generator) != x.shape[0]:
            raise ValueError(f"one generator per batch row: got {len(generator)} generators for {x.shape[0]} rows")
        noise = torch.stack([torch.randn(x.shape[1:], generator=g, dtype=torch.float32) for g in generator])
    else:
        noise = torch.randn(x.shape, generator=generator, dtype=torch.float32)
    return noise.to(x.device, x.dtype)


def _size(expert: Expert, x: torch.Tensor) -> tuple[int, int]:
    return expert.size if expert.size is not None else (x.shape[-2], x.shape[-1])


def coordinated_step(spatial: Expert, temporal: Expert, x: torch.Tensor, t: int, t_prev: int,
                     meter: NFEMeter | None = None, generator: Generators = None,
                     noise: str = "fresh") -> torch.Tensor:
    """One coordinated refinement step V′_{t_k} → V′_{t_prev} (x on the spatial expert's schedule and size):

    1. spatial expert: x̂0 from V′_{t_k} (its ᾱ);
    2. V″_{t_k} = √ᾱ_t(S_t) x̂0 + √(1 − ᾱ_t(S_t)) ε (Eq. 9);
    3. temporal expert on V″_{t_k} → x̂0″ (its ᾱ, Eq. 10);
    4. V′_{t_k} = √ᾱ_t(S_s) x̂0″ + √(1 − ᾱ_t(S_s)) ε (Eq. 11);
    5. spatial expert's DDIM step V′_{t_k} → V′_{t_prev} (Eq. 8).

    ``noise``: ε of sub-steps 2 and 4, ``"fresh"`` (drawn from ``generator``) or ``"predicted"`` (the spatial
    expert's ε̂ in 2, the temporal expert's in 4; needs equal sizes). Under the ``"native"`` resize policy x̂0 and x̂0″
    are resized at the hinge (:func:`bench.methods.confiner.layouts.resize_clean`). Three UNet calls.
    """
    if noise not in NOISE_MODES:
        raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise!r}")
    eps_s = spatial.predict(x, t, meter)
    x0 = resize_clean(predict_x0(x, eps_s, spatial.alpha_bar(t)), _size(temporal, x))
    if noise == "predicted" and x0.shape != x.shape:
        raise ValueError(f"noise='predicted' needs the experts at one latent size (resize policy 'shared'); spatial "
                         f"{tuple(x.shape[-2:])} vs temporal {tuple(x0.shape[-2:])}: use noise='fresh'")
    v2 = add_noise(x0, eps_s if noise == "predicted" else _noise_like(x0, generator), temporal.alpha_bar(t))
    eps_t = temporal.predict(v2, t, meter)
    x0_t = resize_clean(predict_x0(v2, eps_t, temporal.alpha_bar(t)), _size(spatial, x))
    v4 = add_noise(x0_t, eps_t if noise == "predicted" else _noise_like(x0_t, generator), spatial.alpha_bar(t))
    return ddim_step(spatial, v4, t, t_prev, meter)[1]


@dataclass(frozen=True)
class RefinementSettings:
    """The refinement stage's knobs.

    Args:
        mode: ``"spatial"`` (Option 1, standard), ``"temporal"`` or ``"coordinated"`` (Option 2).
        t_e: T_e, the re-noising timestep (paper default 100 of 1000; Table 3: 50–500).
        steps: T_i2 (5 in the 4 + 5 "9-step" setting, 10 in 8 + 10).
        noise: ε of the coordinated sub-steps 2 and 4, ``"fresh"`` (paper) or ``"predicted"``.
    """

    mode: str = "coordinated"
    t_e: int = 100
    steps: int = 5
    noise: str = "fresh"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"RefinementSettings: mode must be one of {MODES}, got {self.mode!r}")
        if self.noise not in NOISE_MODES:
            raise ValueError(f"RefinementSettings: noise must be one of {NOISE_MODES}, got {self.noise!r}")
        refinement_timesteps(self.t_e, self.steps)


def refine(v0: torch.Tensor, spatial: Expert, temporal: Expert, settings: RefinementSettings,
           meter: NFEMeter | None = None, generator: Generators = None) -> torch.Tensor:
    """The refinement stage on the control structure V0 [B, C, F, h, w]: re-noise to T_e, then T_i2 steps in
    ``settings.mode``; returns the refined latent at the size of V0. Spatial-only and temporal-only refinement are
    the degenerate chains: plain DDIM steps of one expert on its own schedule (one UNet call per step)."""
    first = temporal if settings.mode == "temporal" else spatial
    x0 = resize_clean(v0, _size(first, v0))
    x = renoise_structure(x0, settings.t_e, first, _noise_like(x0, generator))
    for t, t_prev in refinement_timesteps(settings.t_e, settings.steps):
        if settings.mode == "coordinated":
            x = coordinated_step(spatial, temporal, x, t, t_prev, meter, generator, settings.noise)
        else:
            x = ddim_step(first, x, t, t_prev, meter)[1]
    return resize_clean(x, (v0.shape[-2], v0.shape[-1]))


def nfe_per_video(mode: str, control_steps: int, refine_steps: int, control_guided: bool = False,
                  spatial_guided: bool = False, temporal_guided: bool = False) -> dict[str, int]:
    """UNet evaluations of one ConFiner video per expert and in total: T_i1 control steps (one call each;
    AnimateDiff-Lightning runs at CFG 1) and T_i2 refinement steps of ``mode`` (1, 1 or 3 calls), doubled for a
    guided expert. The paper's "9 steps" counts timesteps, not these."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    factor = {"control": 2 if control_guided else 1, "spatial": 2 if spatial_guided else 1,
              "temporal": 2 if temporal_guided else 1}
    nfe = {"control": control_steps * factor["control"], "spatial": 0, "temporal": 0}
    for name, per_step in EVALS_PER_STEP[mode].items():
        nfe[name] = per_step * refine_steps * factor[name]
    nfe["total"] = nfe["control"] + nfe["spatial"] + nfe["temporal"]
    return nfe
