"""Gradient homogenization of the two distillation signals on the student's shared parameters.

The abstract says only that the spatial and frequency distillation gradients are made to neither conflict nor
dominate; it gives no formula. Two standard readings are implemented as named options (the sheet's context):
``equal_norm`` rescales both gradients to their mean norm (GradNorm-style magnitude equalisation, without GradNorm's
learned weights) and ``project`` removes each gradient's component along the other when they conflict (PCGrad,
Yu et al. 2020, with the two-task order fixed). ``both`` projects, then equalises; ``none`` leaves them alone.
Gradients are lists of tensors (one per shared parameter), treated as one flattened vector each.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

MODES = ("none", "equal_norm", "project", "both")
Grad = list[torch.Tensor]


def _flat(grad: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in grad])


def _unflat(vector: torch.Tensor, like: Sequence[torch.Tensor]) -> Grad:
    out, start = [], 0
    for g in like:
        out.append(vector[start:start + g.numel()].view_as(g))
        start += g.numel()
    return out


def equal_norm(first: Sequence[torch.Tensor], second: Sequence[torch.Tensor]) -> tuple[Grad, Grad]:
    """Both gradients rescaled to the mean of their two norms (directions kept; a zero gradient stays zero)."""
    a, b = _flat(first), _flat(second)
    na, nb = a.norm(), b.norm()
    target = (na + nb) / 2
    scale_a = torch.where(na > 0, target / na.clamp_min(1e-30), torch.zeros_like(na))
    scale_b = torch.where(nb > 0, target / nb.clamp_min(1e-30), torch.zeros_like(nb))
    return _unflat(a * scale_a, first), _unflat(b * scale_b, second)


def project_conflicts(first: Sequence[torch.Tensor], second: Sequence[torch.Tensor]) -> tuple[Grad, Grad]:
    """PCGrad for two tasks: if a . b < 0, a loses its component along b and b its component along a (each
    projected against the other's original gradient); otherwise both are unchanged."""
    a, b = _flat(first), _flat(second)
    dot = torch.dot(a, b)
    if dot >= 0:
        return list(first), list(second)
    new_a = a - dot / b.dot(b).clamp_min(1e-30) * b
    new_b = b - dot / a.dot(a).clamp_min(1e-30) * a
    return _unflat(new_a, first), _unflat(new_b, second)


def homogenize(first: Sequence[torch.Tensor], second: Sequence[torch.Tensor], mode: str) -> tuple[Grad, Grad]:
    """The two distillation gradients after ``mode`` (one of :data:`MODES`)."""
    if mode not in MODES:
        raise ValueError(f"gradient homogenization mode must be one of {MODES}, got {mode!r}")
    a, b = list(first), list(second)
    if mode in ("project", "both"):
        a, b = project_conflicts(a, b)
    if mode in ("equal_norm", "both"):
        a, b = equal_norm(a, b)
    return a, b


def cosine(first: Sequence[torch.Tensor], second: Sequence[torch.Tensor]) -> float:
    """Cosine similarity of two gradients (logged during training: negative means they conflict)."""
    a, b = _flat(first), _flat(second)
    return float(torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-30))
