"""AMG's guidance arithmetic as the official code applies it (AMG-sd ``ldm/models/diffusion/ddim.py`` and
``scripts/txt2img.py``; AMG-iddpm ``improved_diffusion/gaussian_diffusion.py`` and ``scripts/image_sample_guided.py``).

Everything here is plain arithmetic on scalars or tensors, shared by the two samplers (:mod:`.text_sampler` for
Stable Diffusion, :mod:`.pixel_sampler` for improved-diffusion / pixel DDPMs), so that each formula has one home and
one test:

- the threshold schedule λ(t) = a − (a − b)·exp(−c·(t − d)) (the code's ``asy``), dynamic / constant / none
  (:class:`ThresholdSchedule`, Table 5);
- despecification s₁ = clip(c₁·σ, 0, s₀ − 1) and caption deduplication s₂ = clip((s₀ − 1 − s₁)/c₂·σ, 0,
  s₀ − 1 − s₁) with their ε combination (:func:`despecification_scale`, :func:`deduplication_scale`,
  :func:`combine_noise`); the code writes s₀ − 1 = 6.5, c₁ = 6.5/0.5 = 13, c₂ = 0.3;
- the caption-deduplication countdown (``g3_count``: once triggered, the term stays on for 10 steps,
  :class:`CaptionCountdown`);
- the text branch's dissimilarity weight √(1−ᾱ_t)·c₃·(σ − a)·exp((1000 − t)/170) (:func:`text_dissimilarity_weight`)
  and the pixel branch's classifier-guidance scale c₃·(λ_t − nL2) (:func:`pixel_guidance_scale`);
- the pixel branch's check/skip bookkeeping (the ``skip`` / ``countdown`` globals: after 3 checks in a row that did
  not guide, checking pauses until a shared counter of 10 runs out, :class:`CheckSkipper`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

SCHEDULE_KINDS = ("dynamic", "constant", "none")


@dataclass(frozen=True)
class ThresholdSchedule:
    """λ(t) = a − (a − b)·exp(−c·(t − d)) over the sampler's step index t (the code's ``asy(x, a, b, c, d)``).

    ``kind`` "dynamic" is that curve (λ(d) = b, λ(∞) = a); "constant" holds ``constant`` at every step (Table 5's
    constant schedule); "none" guides at every step whatever the similarity (Table 5's "guidance everywhere").
    ``above`` tells the direction: the text branch guides while SSCD σ > λ_t, the pixel branch while nL2 < λ_t.
    """

    kind: str = "dynamic"
    a: float = 0.3
    b: float = 0.4
    c: float = 0.005
    d: float = 0.0
    constant: float = 0.4
    above: bool = True

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f"AMG threshold schedule: kind must be one of {SCHEDULE_KINDS}, got {self.kind!r}")

    def curve(self, t: float) -> float:
        """The dynamic curve a − (a − b)·exp(−c·(t − d)) at ``t``, whatever ``kind``."""
        return float(self.a - (self.a - self.b) * math.exp(-self.c * (float(t) - self.d)))

    def value(self, t: float) -> float:
        """λ at step index ``t`` (±inf for "none": every similarity passes)."""
        if self.kind == "none":
            return -math.inf if self.above else math.inf
        if self.kind == "constant":
            return float(self.constant)
        return self.curve(t)

    def scale_threshold(self, t: float) -> float:
        """The λ in a guidance scale that depends on the margin (the pixel branch's c·(λ_t − nL2)): the gate's λ,
        except for "none", which has no gate and keeps the dynamic curve's value (no conditioning, same strength)."""
        return self.curve(t) if self.kind == "none" else self.value(t)

    def passes(self, similarity: torch.Tensor, t: float) -> torch.Tensor:
        """Per-sample trigger 1[σ > λ_t] (``above``) or 1[nL2 < λ_t]."""
        threshold = self.value(t)
        return similarity > threshold if self.above else similarity < threshold


def despecification_scale(similarity: torch.Tensor, cfg_scale: float, c1: float) -> torch.Tensor:
    """s₁ = clip(c₁·σ, 0, s₀ − 1): how much of the prompt's classifier-free guidance to remove (``g2_scale``)."""
    return (c1 * similarity).clamp(min=0.0, max=cfg_scale - 1.0)


def deduplication_scale(similarity: torch.Tensor, cfg_scale: float, despec: torch.Tensor, c2: float) -> torch.Tensor:
    """s₂ = clip((s₀ − 1 − s₁)/c₂·σ, 0, s₀ − 1 − s₁) (``g3_scale``): the weight that pushes away from the
    duplicated caption, capped so the three scales never exceed the CFG budget."""
    room = cfg_scale - 1.0 - despec
    return torch.minimum(room / c2 * similarity, room).clamp(min=0.0)


def combine_noise(eps_uncond: torch.Tensor, eps_prompt: torch.Tensor, cfg_scale: float, despec: torch.Tensor,
                  eps_caption: torch.Tensor | None = None, dedup: torch.Tensor | None = None) -> torch.Tensor:
    """ε = ε_∅ + (s₀ − s₁)(ε_y − ε_∅) + s₂(ε_∅ − ε_{y_N}): CFG with despecification G_spe = −s₁(ε_y − ε_∅) and caption
    deduplication G_dup = −s₂(ε_{y_N} − ε_∅). ``despec`` / ``dedup`` are per-sample [B] scales."""
    def per_sample(value: torch.Tensor) -> torch.Tensor:
        return value.to(eps_uncond.dtype).view(-1, *([1] * (eps_uncond.ndim - 1)))

    eps = eps_uncond + (cfg_scale - per_sample(despec)) * (eps_prompt - eps_uncond)
    if eps_caption is not None and dedup is not None:
        eps = eps + per_sample(dedup) * (eps_uncond - eps_caption)
    return eps


class CaptionCountdown:
    """The code's ``g3_count`` for one sample: a trigger (duplicated caption known and σ > λ_t) turns caption
    deduplication on for ``length`` consecutive steps, the trigger step included; a new trigger restarts it."""

    def __init__(self, length: int = 10) -> None:
        if length < 1:
            raise ValueError(f"AMG caption countdown: length must be >= 1, got {length}")
        self.length = int(length)
        self.count = self.length  # == length: inactive

    @property
    def active(self) -> bool:
        return self.count != self.length

    def step(self, triggered: bool) -> bool:
        """Advance one sampling step; True when deduplication applies at this step."""
        if not (triggered or self.active):
            return False
        if triggered:
            self.count = self.length
        self.count -= 1
        if self.count == 0:
            self.count = self.length
        return True


def text_dissimilarity_weight(similarity: torch.Tensor, timestep: torch.Tensor, sqrt_one_minus_alpha: torch.Tensor,
                              scale: float, offset: float = 0.3, decay: float = 170.0) -> torch.Tensor:
    """The factor that multiplies ∇_{x_t}σ in ε ← ε + √(1−ᾱ_t)·c₃·∇σ·(σ − offset)·exp((1000 − t)/decay): the code's
    ``e_t - sqrt_one_minus_at * (-guidance_scale * grad) * (simscore - 0.3) * exp((1000 - t) / 170)`` with c₃ =
    ``guidance_scale`` (100 in the README) and t the original timestep. Per sample, [B]."""
    return (sqrt_one_minus_alpha * scale * (similarity - offset)
            * torch.exp((1000.0 - timestep.to(similarity.dtype)) / decay))


def pixel_guidance_scale(nl2: torch.Tensor, threshold: float, classifier_scale: float = 1000.0,
                         factor: float = 80.0) -> torch.Tensor:
    """The pixel branch's adaptive scale ``classifier_scale · (λ_t − nL2) · 80`` (``condition_mean``): the mean moves
    by Σ·scale·∇_{x}nL2, away from the nearest training image, harder the deeper below the threshold."""
    return classifier_scale * (threshold - nl2) * factor


class CheckSkipper:
    """The pixel branch's ``skip`` / ``countdown`` bookkeeping for one sample (AMG-iddpm ``p_sample``).

    A check that does not guide (nL2 ≥ λ_t) adds 1 to ``skip``; one that guides sets it to 0. When ``skip`` reaches
    ``misses`` (3), checking pauses: every sampler call then only counts ``countdown`` down, and the call that finds
    it at 0 resets both (``countdown`` = ``pause``, ``skip`` = 0) and checks again. The official sampler makes two
    calls per step once guidance has triggered, an unguided logging chain and the guided one, sharing these globals;
    ``calls_per_step`` = 2 reproduces that (a pause then lasts about ``pause`` / 2 steps), 1 gives the plain rule.
    """

    def __init__(self, misses: int = 3, pause: int = 10, calls_per_step: int = 2) -> None:
        if calls_per_step not in (1, 2):
            raise ValueError(f"AMG check skipper: calls_per_step must be 1 or 2, got {calls_per_step}")
        self.misses, self.pause, self.calls_per_step = int(misses), int(pause), int(calls_per_step)
        self.skip, self.countdown = 0, self.pause

    def _call(self) -> bool:
        """One sampler call: True when it checks the similarity (and may guide)."""
        if self.skip == self.misses and self.countdown != 0:
            self.countdown -= 1
            return False
        if self.countdown == 0:
            self.countdown, self.skip = self.pause, 0
        return True

    def should_check(self) -> bool:
        """Advance one step (its logging call first when there are two); True when this step checks."""
        if self.calls_per_step == 2:
            self._call()  # the unguided chain's call: only its bookkeeping matters for the guided sample
        return self._call()

    def record(self, guided: bool) -> None:
        """The outcome of a check."""
        self.skip = 0 if guided else self.skip + 1


def guidance_fields(spec: dict[str, Any], named: dict[str, dict[str, Any]], schedule_defaults: dict[str, float],
                    above: bool, known: set[str], who: str, hint: str = "") -> dict[str, Any]:
    """A config's ``guidance`` dict as settings fields: the named ``setting`` ("main" / "strong") first, explicit
    fields over it, ``schedule`` (a kind, or a dict of :class:`ThresholdSchedule` fields) over the branch's defaults;
    an unknown key or setting is an error naming ``who`` and the known keys."""
    spec = dict(spec)
    setting = spec.pop("setting", "main")
    if setting not in named:
        raise ValueError(f"{who}: guidance.setting must be one of {sorted(named)}, got {setting!r}")
    schedule = spec.pop("schedule", "dynamic")
    schedule = {"kind": schedule} if isinstance(schedule, str) else dict(schedule)
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"{who}: unknown guidance keys {unknown}; known: setting, schedule, "
                         f"{', '.join(sorted(known))}{hint}")
    return {**named[setting], **spec,
            "schedule": ThresholdSchedule(**{**schedule_defaults, **schedule, "above": above})}
