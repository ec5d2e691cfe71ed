"""AMG's pixel branch (improved-diffusion CIFAR-10, and the digits demo): ancestral sampling on a respaced process
with the dissimilarity guidance G_sim as classifier guidance on the nL2 to the nearest training image.

Follows AMG-iddpm (``improved_diffusion/gaussian_diffusion.py`` ``p_sample`` / ``condition_mean`` / ``get_cache``,
``scripts/image_sample_guided.py`` ``cond_fn``), per sample and batched:

- **trigger**: a sample is plain ancestral sampling until a check finds nL2 < ``trigger`` (the code's constant 1.5);
  from that step on it is guided (the code's global ``trigger``, reset per sample);
- **check**: at a checking step (:class:`~.guidance.CheckSkipper` decides) nL2 of the sample to its nearest pool
  image is compared with λ_t (:class:`~.guidance.ThresholdSchedule`, the code's ``asy(t, 1.95, 1.5, 0.025)`` over the
  respaced index); below it the posterior mean moves by Σ_t · c · (λ_t − nL2) · ∇nL2 with c = ``classifier_scale``
  · ``factor`` (1000 · 80 in the code: :func:`~.guidance.pixel_guidance_scale`), away from the neighbour;
- **comparison** "x0" (the paper, Eq. 10-11, and the default): nL2 of the Tweedie estimate x̂₀ (from ε̂ with ε̂ held
  fixed, clipped to [-1, 1] like the sampler's) to the clean pool, its gradient taken w.r.t. x_t through x̂₀;
  "noised" (the code): nL2 of x_t itself to the pool noised to the same step, q(x_t | x_0) with fresh noise at every
  check (drawn from the sample's own generator here, from the global RNG in the code);
- nL2 = l2(x, n₀) / (α · mean of the k smallest l2), l2(a, b) = sqrt(mean((a − b)²)) / 2, k = 50, α = 0.5; the
  denominator is held fixed in the gradient, as ``cond_fn`` does.

Deliberate differences: per-sample CPU generators replace the global RNG (a sample does not depend on its batch);
the code also runs a second, unguided chain beside the guided one for its logs, whose only effect on the guided
sample is through the shared skip countdown (reproduced by ``CheckSkipper(calls_per_step=2)``) and through the order
of the global RNG's draws (not reproducible, and irrelevant with per-sample generators).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from bench.methods.amg.guidance import CheckSkipper, ThresholdSchedule, pixel_guidance_scale
from bench.methods.diffusion.gaussian import RespacedDiffusion
from bench.seeding import step_noise
from bench.tasks.generation.neighbours import normalized_l2

COMPARISONS = ("x0", "noised")
Denoiser = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class PixelGuidanceSettings:
    """The pixel branch's knobs, defaulting to AMG-iddpm's values (``classifier_scale`` · ``factor`` is c₃)."""

    g_sim: bool = True
    schedule: ThresholdSchedule = field(
        default_factory=lambda: ThresholdSchedule("dynamic", a=1.95, b=1.5, c=0.025, constant=1.5, above=False))
    trigger: float = 1.5
    comparison: str = "x0"
    classifier_scale: float = 1000.0
    factor: float = 80.0
    k: int = 50
    alpha: float = 0.5
    misses: int = 3
    pause: int = 10
    calls_per_step: int = 2

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"AMG pixel guidance: comparison must be one of {COMPARISONS}, got {self.comparison!r}")
        if self.schedule.above:
            raise ValueError("AMG pixel guidance: the nL2 schedule guides below the threshold (above=False)")


@dataclass
class PixelAMGResult:
    """Samples in [-1, 1] and, per sample, the guidance log: nL2 at every check (NaN where none ran), the step index
    (respaced, counting down) at which guidance triggered (−1: never), and how many steps checked / guided."""

    samples: torch.Tensor
    nl2_track: torch.Tensor
    trigger_step: torch.Tensor
    checks: torch.Tensor
    guided_steps: torch.Tensor


def nearest_nl2(images: torch.Tensor, pool: torch.Tensor, k: int, alpha: float
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(nL2 [B], index of the nearest pool image [B], denominator α · mean of the k smallest l2 [B]) on the images'
    device, float32, no grad: the evaluation's :func:`normalized_l2` (so sampler and score agree, including nL2 0
    where the official code divides 0 by 0)."""
    with torch.no_grad():
        nl2, nearest, denominator = normalized_l2(images.float(), pool, k, alpha, with_denominator=True)
        device = images.device
        return nl2.float().to(device), nearest.to(device), denominator.float().to(device)


def _noised_pools(pool: torch.Tensor, diffusion: RespacedDiffusion, index: int,
                  generators: Sequence[torch.Generator]) -> list[torch.Tensor]:
    """The pool diffused to respaced step ``index`` with fresh noise per sample (the code's ``q_sample(dat, t)``)."""
    a = float(diffusion.alphas_cumprod[index])
    return [math.sqrt(a) * pool + math.sqrt(1 - a) * torch.randn(pool.shape, generator=g).to(pool.device, pool.dtype)
            for g in generators]


def _compared(x: torch.Tensor, eps: torch.Tensor, diffusion: RespacedDiffusion, index: int,
              settings: PixelGuidanceSettings) -> torch.Tensor:
    """What is compared with the pool: x̂₀ from ε held fixed, clipped ("x0"), or x_t itself ("noised")."""
    if settings.comparison == "x0":
        return diffusion.predict_xstart_from_eps(x, index, eps.detach().clone().float()).clamp(-1, 1)
    return x


def _neighbours(compared: torch.Tensor, pool: torch.Tensor, diffusion: RespacedDiffusion, index: int,
                settings: PixelGuidanceSettings, generators: Sequence[torch.Generator]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(nL2 [B], the nearest (noised) pool image [B, ...], the denominator [B]) of each compared image, no grad: one
    search over the clean pool for the batch ("x0"), or one per sample over its own noised pool ("noised")."""
    with torch.no_grad():
        if settings.comparison == "x0":
            nl2, nearest, denominator = nearest_nl2(compared, pool, settings.k, settings.alpha)
            return nl2, pool[nearest], denominator
        values, images, denominators = [], [], []
        for b, noised in enumerate(_noised_pools(pool, diffusion, index, generators)):
            nl2, nearest, denominator = nearest_nl2(compared[b:b + 1], noised, settings.k, settings.alpha)
            values.append(nl2)
            images.append(noised[nearest])
            denominators.append(denominator)
        return torch.cat(values), torch.cat(images), torch.cat(denominators)


def similarity(x: torch.Tensor, eps: torch.Tensor, diffusion: RespacedDiffusion, index: int, pool: torch.Tensor,
               settings: PixelGuidanceSettings, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """nL2 [B] of each sample under ``settings.comparison``, without its gradient (the trigger check)."""
    compared = _compared(x.float(), eps, diffusion, index, settings)
    return _neighbours(compared, pool, diffusion, index, settings, generators)[0]


def similarity_gradient(x: torch.Tensor, eps: torch.Tensor, diffusion: RespacedDiffusion, index: int,
                        pool: torch.Tensor, settings: PixelGuidanceSettings,
                        generators: Sequence[torch.Generator]) -> tuple[torch.Tensor, torch.Tensor]:
    """(nL2 [B], ∇_{x_t} nL2 [B, ...]) of each sample to its nearest pool image under ``settings.comparison``, the
    neighbour and the denominator held fixed (``cond_fn``)."""
    # the runner samples under torch.inference_mode: leave it (and clone its tensors) for the gradient
    with torch.inference_mode(False), torch.enable_grad():
        x_in = x.detach().clone().float().requires_grad_(True)
        compared = _compared(x_in, eps, diffusion, index, settings)
        nl2, neighbours, denominators = _neighbours(compared.detach(), pool, diffusion, index, settings, generators)
        dims = tuple(range(1, compared.ndim))
        mse = ((compared - neighbours.clone()) ** 2).mean(dim=dims)
        # an exact copy (l2 = 0, and a denominator of 0 with >= k copies) has no direction to follow: its gradient is
        # 0 here, where sqrt and the division would make it NaN (the official code's would be)
        moved = (mse > 0) & (denominators > 0)
        l2 = torch.where(moved, mse, torch.ones_like(mse)).sqrt() / 2
        safe = torch.where(moved, denominators, torch.ones_like(denominators)).clone()
        loss = torch.where(moved, l2 / safe, torch.zeros_like(l2))
        (gradient,) = torch.autograd.grad(loss.sum(), x_in)
    return nl2, gradient


def sample_pixel_amg(diffusion: RespacedDiffusion, denoise: Denoiser, noise: torch.Tensor, y: torch.Tensor | None,
                     generators: Sequence[torch.Generator], settings: PixelGuidanceSettings | None,
                     pool: torch.Tensor | None, clip_denoised: bool = True,
                     on_step: Callable[[int], None] | None = None) -> PixelAMGResult:
    """Ancestral sampling from ``noise`` over every respaced step, with AMG's G_sim where ``settings.g_sim`` (and a
    ``pool``, the training images in [-1, 1], deduplicated) is given; ``settings`` None samples plainly."""
    batch, steps = len(noise), diffusion.num_timesteps
    guiding = settings is not None and settings.g_sim and pool is not None
    nl2_track = torch.full((batch, steps), math.nan)
    trigger_step = torch.full((batch,), -1, dtype=torch.long)
    checks = torch.zeros(batch, dtype=torch.long)
    guided_steps = torch.zeros(batch, dtype=torch.long)
    skippers = [CheckSkipper(settings.misses, settings.pause, settings.calls_per_step) for _ in range(batch)] \
        if guiding and settings is not None else []
    x = noise
    for index in reversed(range(steps)):
        t = diffusion.model_timesteps(index, batch, x.device)
        with torch.no_grad():
            output = denoise(x, t, y)
        prediction = diffusion.p_mean_variance(output, x, index, clip_denoised)
        mean = prediction.mean
        if guiding:
            assert settings is not None and pool is not None
            mean = _guide(mean, prediction.variance, output[:, :x.shape[1]], x, index, diffusion, pool, settings,
                          generators, skippers, nl2_track, trigger_step, checks, guided_steps)
        x = mean
        if index > 0:
            x = x + torch.exp(0.5 * prediction.log_variance) * step_noise(generators, x)
        if on_step is not None:
            on_step(index)
    return PixelAMGResult(x, nl2_track, trigger_step, checks, guided_steps)


def _guide(mean: torch.Tensor, variance: torch.Tensor, eps: torch.Tensor, x: torch.Tensor, index: int,
           diffusion: RespacedDiffusion, pool: torch.Tensor, settings: PixelGuidanceSettings,
           generators: Sequence[torch.Generator], skippers: list[CheckSkipper], nl2_track: torch.Tensor,
           trigger_step: torch.Tensor, checks: torch.Tensor, guided_steps: torch.Tensor) -> torch.Tensor:
    """One step's trigger, checks and mean shift for the samples that check (in place on the logs)."""
    everywhere = settings.schedule.kind == "none"
    waiting = [b for b in range(len(x)) if trigger_step[b] < 0]
    if waiting:  # the unguided chain's check (the code's ablated call), against the constant trigger threshold
        if everywhere:
            hits = torch.ones(len(waiting), dtype=torch.bool)
        else:
            nl2 = similarity(x[waiting], eps[waiting], diffusion, index, pool, settings,
                             [generators[b] for b in waiting])
            nl2_track[waiting, index] = nl2.cpu()
            hits = (nl2 < settings.trigger).cpu()
        for b, hit in zip(waiting, hits.tolist(), strict=True):
            if hit:
                trigger_step[b] = index
    checking = [b for b in range(len(x)) if trigger_step[b] >= 0 and skippers[b].should_check()]
    if not checking:
        return mean
    nl2, gradient = similarity_gradient(x[checking], eps[checking], diffusion, index, pool, settings,
                                        [generators[b] for b in checking])
    guided = settings.schedule.passes(nl2, index)
    nl2_track[checking, index] = nl2.detach().cpu()
    margin_threshold = settings.schedule.scale_threshold(index)
    scale = torch.where(guided, pixel_guidance_scale(nl2, margin_threshold, settings.classifier_scale,
                                                     settings.factor), torch.zeros_like(nl2))
    shift = variance[checking].float() * scale.view(-1, *([1] * (x.ndim - 1))) * gradient
    mean = mean.clone()
    mean[checking] = (mean[checking].float() + shift).to(mean.dtype)
    for position, b in enumerate(checking):
        skippers[b].record(bool(guided[position]))
        checks[b] += 1
        guided_steps[b] += int(guided[position])
    return mean
