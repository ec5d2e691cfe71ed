"""The distillation objective and the gradient step that applies homogenization.

Rows of the ablation the abstract implies (``mode``): ``none`` (the student's own loss only), ``spatial`` and
``frequency`` (one branch distilled through its projector), ``naive_both`` (one projector onto the concatenated
teacher features: "distilling both naively"), ``dedicated`` (a projector per branch, two losses) and, with
``homogenization`` other than ``none``, dedicated projectors with homogenized gradients. A feature loss is the squared
L2 distance between the L2-normalised projected student features and the L2-normalised teacher features, averaged
over the batch (``2 - 2 cos``; ``feature_norm``): the paper's loss is unknown, and normalising makes the two
branches' losses comparable whatever their widths and scales. Classification: binary cross-entropy on the student's
logit, optionally plus Hinton's logit distillation with a temperature (``logit_distillation``; off by default, since
the abstract names only feature projectors).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.two_in_one_kd.homogenization import cosine, homogenize

MODES = ("none", "spatial", "frequency", "naive_both", "dedicated")


def projector_targets(mode: str) -> dict[str, tuple[str, ...]]:
    """Which teacher features each projector of ``mode`` maps onto (projector name -> teacher output keys)."""
    if mode not in MODES:
        raise ValueError(f"distillation mode must be one of {MODES}, got {mode!r}")
    return {"none": {}, "spatial": {"spatial": ("spatial",)}, "frequency": {"frequency": ("frequency",)},
            "naive_both": {"both": ("spatial", "frequency")},
            "dedicated": {"spatial": ("spatial",), "frequency": ("frequency",)}}[mode]


def feature_loss(projected: torch.Tensor, target: torch.Tensor, feature_norm: bool = True) -> torch.Tensor:
    """Batch mean of ``||p - t||^2`` (of the L2-normalised vectors with ``feature_norm``); the teacher is detached."""
    if feature_norm:
        projected, target = F.normalize(projected, dim=1), F.normalize(target, dim=1)
    return (projected - target.detach()).pow(2).sum(dim=1).mean()


def logit_distillation(student_logit: torch.Tensor, teacher_logit: torch.Tensor, temperature: float) -> torch.Tensor:
    """Hinton's KD for one real/fake logit: ``T^2`` times the binary cross-entropy between the softened student and
    teacher probabilities (the ``T^2`` keeps gradient scale independent of ``T``)."""
    soft_target = torch.sigmoid(teacher_logit.detach() / temperature)
    return temperature ** 2 * F.binary_cross_entropy_with_logits(student_logit / temperature, soft_target)


def distillation_losses(student_features: torch.Tensor, teacher: dict[str, torch.Tensor],
                        projectors: nn.ModuleDict, mode: str, feature_norm: bool = True) -> dict[str, torch.Tensor]:
    """One loss per projector of ``mode`` (keyed by projector name)."""
    losses = {}
    for name, keys in projector_targets(mode).items():
        target = torch.cat([teacher[k] for k in keys], dim=1)
        losses[name] = feature_loss(projectors[name](student_features), target, feature_norm)
    return losses


def backward_with_homogenization(classification: torch.Tensor, distill: dict[str, torch.Tensor],
                                 weights: dict[str, float], shared: Iterable[nn.Parameter],
                                 others: Iterable[nn.Parameter], homogenization: str = "none") -> dict[str, float]:
    """Fill ``.grad``: the shared (student backbone) parameters get ``grad(classification)`` plus the weighted
    distillation gradients, homogenized when there are exactly two (``spatial`` and ``frequency``); every other
    parameter (head, projectors) gets the plain gradient of the total loss. Returns the two distillation gradients'
    cosine before homogenization (NaN unless two), for the training log."""
    shared, others = [p for p in shared if p.requires_grad], [p for p in others if p.requires_grad]
    weighted = {name: weights.get(name, 1.0) * loss for name, loss in distill.items()}
    total = classification + sum(weighted.values(), torch.zeros((), device=classification.device))
    if others:
        for param, grad in zip(others, torch.autograd.grad(total, others, retain_graph=True, allow_unused=True),
                               strict=True):
            param.grad = None if grad is None else grad.detach()

    def grads_of(loss: torch.Tensor) -> list[torch.Tensor]:
        found = torch.autograd.grad(loss, shared, retain_graph=True, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(shared, found, strict=True)]

    combined = grads_of(classification)
    similarity = float("nan")
    if set(weighted) == {"spatial", "frequency"}:
        g_spatial, g_frequency = grads_of(weighted["spatial"]), grads_of(weighted["frequency"])
        similarity = cosine(g_spatial, g_frequency)
        parts = list(homogenize(g_spatial, g_frequency, homogenization))
    else:
        if homogenization != "none":
            raise ValueError(f"homogenization {homogenization!r} needs the two dedicated distillation losses "
                             f"(mode 'dedicated'); got losses {sorted(weighted)}")
        parts = [grads_of(loss) for loss in weighted.values()]
    for part in parts:
        combined = [c + g for c, g in zip(combined, part, strict=True)]
    for param, grad in zip(shared, combined, strict=True):
        param.grad = grad.detach()
    return {"distill_cosine": similarity}
