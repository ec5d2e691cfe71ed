"""DiffAct's unified condition masking: which frames of the decoder's condition are zeroed in a training step.

One type is drawn uniformly per training step from the config's ``cond_types`` (a type listed twice is drawn
twice as often, as the official configs do with ``segment=1``); inference always uses the full condition.
"""
from __future__ import annotations

import numpy as np
import torch

COND_TYPES = ("full", "zero", "boundary03-", "boundary05-", "segment=1", "segment=2")


def check_cond_types(cond_types: list[str]) -> list[str]:
    unknown = [c for c in cond_types if c not in COND_TYPES]
    if unknown or not cond_types:
        raise ValueError(f"cond_types {cond_types} must be a non-empty list drawn from {COND_TYPES}")
    return list(cond_types)


def condition_mask(cond_type: str, labels: torch.Tensor, boundary: torch.Tensor,
                   rng: np.random.Generator) -> torch.Tensor | None:
    """Mask [1, 1, T] to multiply the condition by (None for ``full``).

    - ``zero``: every frame masked (the decoder learns the position prior);
    - ``boundary03-`` / ``boundary05-``: frames whose smoothed boundary target is >= 0.3 / 0.5 (ambiguity);
    - ``segment=1`` / ``segment=2``: every frame of 1 or 2 action classes drawn from those present, with
      replacement, as the official code draws them (relational dependency between actions).

    ``labels`` [T] are the frame labels (argmax of the one-hot target), ``boundary`` [T] the boundary target.
    """
    ones = torch.ones(1, 1, labels.shape[-1], device=labels.device)
    if cond_type == "full":
        return None
    if cond_type == "zero":
        return torch.zeros_like(ones)
    if cond_type.startswith("boundary"):
        threshold = {"boundary03-": 0.3, "boundary05-": 0.5}[cond_type]
        return (boundary.reshape(1, 1, -1) < threshold).float()
    if cond_type.startswith("segment="):
        present = torch.unique(labels).cpu().numpy()
        mask = ones
        for _ in range(int(cond_type.split("=")[1])):
            mask = mask * (labels.reshape(1, 1, -1) != int(rng.choice(present))).float()
        return mask
    raise ValueError(f"unknown cond_type {cond_type!r}; choose from {COND_TYPES}")
