"""Classifier and classifier-free guidance on a respaced ancestral sampler, gated and weighted by a schedule.

Classifier guidance is ADM's ``condition_mean``: the posterior mean moves by ``variance * s * grad log p(y|x_t)``,
the gradient taken in float32 at the original timestep. Compress Guidance computes it only where the schedule's
counter w is positive; the ``variant`` says what happens then:

- ``compress`` (Eq. 14, the authors' code): the gradient is multiplied by ``s * w``;
- ``reuse`` (Eq. 13, "duplicate the last gradient"): a fresh gradient at counted steps, and at every later step
  without one the last gradient is applied again (the paper describes it; the authors' code has no such path);
- ``unit``: the same steps at weight s (the reviewers' "fresh gradient at the same steps" baseline);
- ``rescaled``: the same steps at ``s * total_weight / guided_steps`` (the reviewers' "rescaled-s" baseline).

Classifier-free guidance runs the unconditional pass only at steps whose counter is positive (the counter gates,
it does not scale, as in the authors' code); elsewhere the conditional prediction alone is used. The combination
is ``e_u + s (e_c - e_u)`` (the authors' ADM form ``(1 + w) e_c - w e_u`` is s = 1 + w), either

- ``combine="x0"`` (the authors' ADM sampler): both predictions go through the clipped x0 first, the epsilons
  are re-derived from the clipped x0s, combined, and the new clipped x0 gives the posterior mean; the variance is
  the conditional model's; or
- ``combine="output"`` (DiT's ``forward_with_cfg``): the first ``channels`` output channels are combined (DiT
  combines 3 of its 4 latent epsilon channels "for exact reproducibility"), the rest are the conditional pass's.

Every step counts what it ran, per sample: model forwards, extra (unconditional) forwards, fresh guidance steps
(and how many of them were the two forced final steps), classifier backward passes and reused-gradient steps.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import torch

from bench.dist import detect
from bench.methods.compress_guidance.schedule import GuidanceSchedule
from bench.methods.diffusion.gaussian import RespacedDiffusion, StepPrediction
from bench.progress import progress
from bench.seeding import step_noise

Denoiser = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
ClassifierFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CLASSIFIER_VARIANTS = ("compress", "reuse", "unit", "rescaled")
CFG_COMBINES = ("x0", "output")


@dataclass
class GuidanceCost:
    """What one sample's sampling ran: the efficiency columns of the paper (guidance steps, extra passes)."""

    steps: int = 0
    model_forwards: int = 0
    extra_forwards: int = 0
    guided_steps: int = 0
    forced_steps: int = 0
    classifier_backwards: int = 0
    reused_steps: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def count_guided(self, schedule: GuidanceSchedule, index: int) -> None:
        """One step ran fresh guidance; the final two of a schedule that forces them are also counted apart."""
        self.guided_steps += 1
        if index <= 1 and schedule.forces_final_steps:
            self.forced_steps += 1


class NoGuidance:
    """Plain ancestral sampling (the schedule ``none`` without building a classifier)."""

    def step(self, diffusion: RespacedDiffusion, index: int, t: torch.Tensor, x: torch.Tensor,
             output: torch.Tensor, y: torch.Tensor | None, clip_denoised: bool, cost: GuidanceCost) -> StepPrediction:
        return diffusion.p_mean_variance(output, x, index, clip_denoised)


class ClassifierGuidance:
    """ADM classifier guidance at the steps (and weights) of ``schedule``; see the module docstring."""

    def __init__(self, classifier: ClassifierFn, scale: float, schedule: GuidanceSchedule,
                 variant: str = "compress") -> None:
        if variant not in CLASSIFIER_VARIANTS:
            raise ValueError(f"classifier guidance variant must be one of {CLASSIFIER_VARIANTS}, got {variant!r}")
        self.classifier, self.scale, self.schedule, self.variant = classifier, float(scale), schedule, variant
        guided = sum(1 for c in schedule.counts if c > 0)
        self.rescale = sum(schedule.counts) / guided if guided else 0.0
        self._last_gradient: torch.Tensor | None = None

    def reset(self) -> None:
        self._last_gradient = None

    def gradient(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """grad_x log p(y | x_t), in float32, with autograd re-enabled inside the runner's inference mode."""
        with torch.inference_mode(False), torch.enable_grad():
            x_in = x.detach().clone().float().requires_grad_(True)
            logits = self.classifier(x_in, t.clone())
            selected = torch.log_softmax(logits.float(), dim=-1)[torch.arange(len(x_in)), y.clone()]
            return torch.autograd.grad(selected.sum(), x_in)[0]

    def step(self, diffusion: RespacedDiffusion, index: int, t: torch.Tensor, x: torch.Tensor,
             output: torch.Tensor, y: torch.Tensor | None, clip_denoised: bool, cost: GuidanceCost) -> StepPrediction:
        if y is None:
            raise ValueError("classifier guidance needs class labels")
        prediction = diffusion.p_mean_variance(output, x, index, clip_denoised)
        weight = self.schedule.weight(index, int(diffusion.timestep_map[index]))
        if weight > 0:
            gradient = self.gradient(x, t, y)
            cost.count_guided(self.schedule, index)
            cost.classifier_backwards += 1
            factor = {"compress": weight, "reuse": 1.0, "unit": 1.0, "rescaled": self.rescale}[self.variant]
            self._last_gradient = gradient
        elif self.variant == "reuse" and self._last_gradient is not None:
            gradient, factor = self._last_gradient, 1.0
            cost.reused_steps += 1
        else:
            return prediction
        mean = prediction.mean.float() + prediction.variance * (gradient * (self.scale * factor))
        return StepPrediction(prediction.pred_xstart, mean.to(prediction.mean.dtype), prediction.variance,
                              prediction.log_variance)


class ClassifierFreeGuidance:
    """Classifier-free guidance whose unconditional pass runs only where ``schedule`` counts a step."""

    def __init__(self, unconditional: Denoiser, scale: float, schedule: GuidanceSchedule, combine: str = "x0",
                 channels: int | None = None) -> None:
        if combine not in CFG_COMBINES:
            raise ValueError(f"CFG combine must be one of {CFG_COMBINES}, got {combine!r}")
        self.unconditional, self.scale, self.schedule = unconditional, float(scale), schedule
        self.combine, self.channels = combine, channels

    def reset(self) -> None:
        pass

    def step(self, diffusion: RespacedDiffusion, index: int, t: torch.Tensor, x: torch.Tensor,
             output: torch.Tensor, y: torch.Tensor | None, clip_denoised: bool, cost: GuidanceCost) -> StepPrediction:
        if self.schedule.weight(index, int(diffusion.timestep_map[index])) <= 0:
            return diffusion.p_mean_variance(output, x, index, clip_denoised)
        unconditional = self.unconditional(x, t, y)
        cost.extra_forwards += 1
        cost.count_guided(self.schedule, index)
        if self.combine == "output":
            channels = self.channels or x.shape[1]
            guided = output.clone()
            guided[:, :channels] = unconditional[:, :channels] + self.scale * (output[:, :channels]
                                                                               - unconditional[:, :channels])
            return diffusion.p_mean_variance(guided, x, index, clip_denoised)
        conditional = diffusion.p_mean_variance(output, x, index, clip_denoised)
        eps_c = diffusion.predict_eps_from_xstart(x, index, conditional.pred_xstart)
        eps_u = diffusion.predict_eps_from_xstart(x, index, diffusion.p_mean_variance(
            unconditional, x, index, clip_denoised).pred_xstart)
        pred_xstart = diffusion.predict_xstart_from_eps(x, index, eps_u + self.scale * (eps_c - eps_u))
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1, 1)
        return StepPrediction(pred_xstart, diffusion.posterior_mean(pred_xstart, x, index), conditional.variance,
                              conditional.log_variance)


def sample_ancestral(diffusion: RespacedDiffusion, denoiser: Denoiser, noise: torch.Tensor,
                     y: torch.Tensor | None, guidance: NoGuidance | ClassifierGuidance | ClassifierFreeGuidance,
                     generators: Sequence[torch.Generator], clip_denoised: bool = True,
                     ) -> tuple[torch.Tensor, GuidanceCost]:
    """guided-diffusion's ``p_sample_loop`` from ``noise`` over every respaced step, with ``guidance`` adjusting
    each step's mean; returns x0 and the per-sample cost (identical for every sample of the batch)."""
    cost = GuidanceCost()
    if hasattr(guidance, "reset"):
        guidance.reset()
    x = noise
    steps = progress(reversed(range(diffusion.num_timesteps)), total=diffusion.num_timesteps, desc="sampling",
                     unit="step", show=detect().rank == 0)
    for index in steps:
        t = diffusion.model_timesteps(index, len(x), x.device)
        output = denoiser(x, t, y)
        cost.model_forwards += 1
        cost.steps += 1
        prediction = guidance.step(diffusion, index, t, x, output, y, clip_denoised, cost)
        x = prediction.mean
        if index > 0:
            x = x + torch.exp(0.5 * prediction.log_variance) * step_noise(generators, x)
    return x, cost
