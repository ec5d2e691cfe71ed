"""DPMs-ANT's training objective for any ε-model: the similarity-guided target (stage 2), adversarial noise
selection (stage 3) and the loss, with the ablation switches of the paper's Fig. 4.

Model-agnostic: ``eps_model(x_t, t)`` is any callable returning ε̂ shaped like ``x_t`` (``t`` integer timesteps
``[N]``), ``classifier(x_t, t)`` any callable returning domain logits ``[N, 2]``. Facts cite the official first
commit (``ShinyGua/DPMs-ANT`` = fork ``ChhaviPan23/DPMs-ANT`` @ 65f00ba):

- t is drawn antithetically, t and T−1−t, by ``generate_xt`` (utils/denoising.py:78-80), for training and the
  classifier stage alike.
- target ε − γ·(1 − ᾱ_t)·∇ log p(y = target | x_t): variance, not std (train.py:118, 170-172); the classifier gradient
  is detached (train.py:166) and taken at label 0, the target domain (train.py:165; train_discriminator.py:112-113);
  γ = ``tl.c`` = 5 (configs/DDPM/base.yaml:50).
- loss: per-sample sum of squared error, batch mean (train.py:148, 172).
- adversarial noise: J = 10 ascent steps ε ← ε + ω·∇_ε L, ω = 0.02 (base.yaml:48-49; train.py:145-151) on the
  plain ε-loss (no guidance inside, train.py:148), each followed by per-sample renormalisation to zero mean and
  unit (Bessel-corrected, torch's default) std (train.py:152-153), then ``generate_xt`` rebuilds x_t with a *new*
  antithetic t (train.py:157): the outer step trains at a t no ascent step saw. ``resample_t=False`` keeps t fixed
  (the paper's Eq. 7 reading).
- gradient path: the first ascent step differentiates through x_t = √ᾱ x0 + √(1−ᾱ) ε as well (ε is the leaf x_t
  was built from, utils/denoising.py:76, 82), later steps only through the target term, because x_t is re-made a
  separate leaf (train.py:158). ``ascent_grad="full"`` differentiates through x_t at every step (Eq. 7).
- the ascent gradient is that of the *batch-mean* loss on one device's batch (5 per GPU, base.yaml:7), so the
  per-sample step is ω·2(ε − ε̂)/B: it shrinks with the per-device batch size. The all-gather before the
  renormalisation (train.py:152) changes nothing, since the statistics are per sample.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Classifier = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

TARGET_LABEL = 0  # train_discriminator.py:112-113: source images are labelled 1, target images 0
ASCENT_GRADS = ("official", "full")


@dataclass(frozen=True)
class AntObjective:
    """What one training step optimises. ``guidance``: the similarity-guided target (needs a classifier);
    ``adversarial``: train at the worst-case noise of ``ascent_steps`` steps of size ``omega``; ``resample_t``: a
    new antithetic t after every ascent step, as the official loop does; ``ascent_grad``: ``"official"`` (first
    step through x_t too, later steps through the target only) or ``"full"`` (through x_t at every step)."""

    guidance: bool = True
    adversarial: bool = True
    gamma: float = 5.0
    omega: float = 0.02
    ascent_steps: int = 10
    resample_t: bool = True
    ascent_grad: str = "official"

    def __post_init__(self) -> None:
        if self.ascent_grad not in ASCENT_GRADS:
            raise ValueError(f"ascent_grad must be one of {ASCENT_GRADS}, got {self.ascent_grad!r}")
        if int(self.ascent_steps) < 0:
            raise ValueError(f"ascent_steps must be >= 0, got {self.ascent_steps}")


# The four rows of the paper's Fig. 4 ablation. Full fine-tuning trains the plain ε-loss too: what sets it apart is
# that every backbone parameter trains, which is the backbone's freeze switch, not the objective's.
ABLATIONS: dict[str, AntObjective] = {
    "adaptor_only": AntObjective(guidance=False, adversarial=False),
    "full_finetune": AntObjective(guidance=False, adversarial=False),
    "ant_no_an": AntObjective(guidance=True, adversarial=False),
    "ant": AntObjective(guidance=True, adversarial=True),
}


def ablation(name: str, **overrides: Any) -> AntObjective:
    """The objective of ablation row ``name`` (one of :data:`ABLATIONS`), with field ``overrides`` (γ, ω, J ...)."""
    if name not in ABLATIONS:
        raise ValueError(f"unknown DPMs-ANT ablation {name!r}; choose one of {sorted(ABLATIONS)}")
    return replace(ABLATIONS[name], **overrides)


def _per_sample(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return values.view(-1, *([1] * (like.dim() - 1)))


def antithetic_timesteps(batch: int, num_timesteps: int, device: torch.device | str = "cpu",
                         generator: torch.Generator | None = None) -> torch.Tensor:
    """``batch`` timesteps: ⌊B/2⌋+1 uniform draws t, then T−1−t, cut to B (utils/denoising.py:78-80); from
    ``generator``, else the global RNG."""
    t = torch.randint(0, num_timesteps, (batch // 2 + 1,), device=device, generator=generator)
    return torch.cat([t, num_timesteps - 1 - t])[:batch]


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor) -> torch.Tensor:
    """x_t = √ᾱ_t x0 + √(1 − ᾱ_t) ε."""
    a = _per_sample(alphas_cumprod.to(x0.device)[t], x0)
    return x0 * a.sqrt() + noise * (1.0 - a).sqrt()


def eps_loss(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Σ over each sample's elements of (target − prediction)², averaged over the batch (train.py:148, 172)."""
    return (target - prediction).float().pow(2).flatten(1).sum(dim=1).mean()


RENORMS = ("sample", "batch")


def renormalise(noise: torch.Tensor, mode: str = "sample") -> torch.Tensor:
    """Noise shifted and scaled to zero mean and unit (Bessel-corrected) std: each sample over its own values
    (``"sample"``, train.py:153), or each coordinate over the batch (``"batch"``: for low-dimensional samples such as
    the 2-D toy's, where the per-sample rule maps every ε to ±(1, −1)/√2)."""
    if mode == "sample":
        dims = tuple(range(1, noise.dim()))
        return (noise - noise.mean(dims, keepdim=True)) / noise.std(dims, keepdim=True)
    if mode == "batch":
        return (noise - noise.mean(0, keepdim=True)) / noise.std(0, keepdim=True)
    raise ValueError(f"renormalisation must be one of {RENORMS}, got {mode!r}")


def domain_log_prob_grad(classifier: Classifier, x_t: torch.Tensor, t: torch.Tensor,
                         label: int = TARGET_LABEL) -> torch.Tensor:
    """∇_{x_t} log p(y = ``label`` | x_t), detached (utils/denoising.py:87-94 ``cond_fn``); the classifier's own
    parameters get no gradient."""
    with torch.enable_grad():
        x_in = x_t.detach().requires_grad_(True)
        logits = classifier(x_in, t)
        chosen = torch.log_softmax(logits.float(), dim=-1)[:, label]
        return torch.autograd.grad(chosen.sum(), x_in)[0].detach()


def similarity_target(eps: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, classifier: Classifier,
                      alphas_cumprod: torch.Tensor, gamma: float, label: int = TARGET_LABEL) -> torch.Tensor:
    """The similarity-guided regression target ε − γ·(1 − ᾱ_t)·∇_{x_t} log p(y = target | x_t) (Eq. 5 as the
    code computes it: the variance 1 − ᾱ_t, not its square root; the gradient detached)."""
    variance = _per_sample(1.0 - alphas_cumprod.to(x_t.device)[t], x_t)
    grad = domain_log_prob_grad(classifier, x_t, t, label)
    return eps.detach() - gamma * variance * grad.to(eps.dtype)


def adversarial_noise(eps_model: EpsModel, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
                      alphas_cumprod: torch.Tensor, omega: float, steps: int, *, resample_t: bool = True,
                      ascent_grad: str = "official", renorm: str = "sample",
                      generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stage 3's inner maximisation: ``steps`` ascent steps ε ← renormalise(ε + ω·∇_ε L(ε)) of the plain ε-loss
    L = :func:`eps_loss` (ε̂(x_t, t), ε) with x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε. Returns (ε, x_t, t) for the outer step; with
    ``resample_t`` t is redrawn (antithetic) after every step, as the official loop does. ``ascent_grad``: see
    :class:`AntObjective`; ``renorm``: :func:`renormalise`'s mode; ``generator``: where the resampled t come from
    (default the global RNG). Only ε is differentiated: the model's parameters get no gradient here."""
    if ascent_grad not in ASCENT_GRADS:
        raise ValueError(f"ascent_grad must be one of {ASCENT_GRADS}, got {ascent_grad!r}")
    num_timesteps = len(alphas_cumprod)
    noise = noise.detach()
    for step in range(int(steps)):
        with torch.enable_grad():
            leaf = noise.clone().requires_grad_(True)
            through_x_t = ascent_grad == "full" or step == 0
            x_t = q_sample(x0, t, leaf if through_x_t else noise, alphas_cumprod)
            loss = eps_loss(eps_model(x_t, t), leaf)
            grad = torch.autograd.grad(loss, leaf)[0]
        noise = renormalise(noise + omega * grad.to(noise.dtype), renorm).detach()
        if resample_t:
            t = antithetic_timesteps(len(x0), num_timesteps, x0.device, generator)
    return noise, q_sample(x0, t, noise, alphas_cumprod), t


def ant_loss(eps_model: EpsModel, x0: torch.Tensor, alphas_cumprod: torch.Tensor, objective: AntObjective,
             classifier: Classifier | None = None) -> torch.Tensor:
    """One training step's loss (train.py:136-172): draw ε and antithetic t, optionally move ε to the adversarial
    noise, then the ε-loss against the (optionally similarity-guided) target. Draws from the global RNG. With
    ``guidance`` and ``adversarial`` off it is the plain DDPM ε-loss (sum over pixels, batch mean)."""
    if objective.guidance and classifier is None:
        raise ValueError("AntObjective(guidance=True) needs the stage-1 domain classifier; pass classifier=..., or "
                         "use ablation('adaptor_only') for the unguided loss")
    noise = torch.randn_like(x0)  # ε before t, the order generate_xt draws them in (utils/denoising.py:76-79)
    t = antithetic_timesteps(len(x0), len(alphas_cumprod), x0.device)
    if objective.adversarial and objective.ascent_steps > 0:
        noise, x_t, t = adversarial_noise(eps_model, x0, noise, t, alphas_cumprod, objective.omega,
                                          objective.ascent_steps, resample_t=objective.resample_t,
                                          ascent_grad=objective.ascent_grad)
    else:
        x_t = q_sample(x0, t, noise, alphas_cumprod)
    target = noise
    if objective.guidance and objective.gamma != 0:
        assert classifier is not None
        target = similarity_target(noise, x_t, t, classifier, alphas_cumprod, objective.gamma)
    return eps_loss(eps_model(x_t, t), target)
