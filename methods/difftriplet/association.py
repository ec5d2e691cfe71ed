"""DiffTriplet's association guidance: make triplet probabilities agree with the component probabilities.

At every DDIM step the predicted x0 holds, per frame, the joint vector [ivt (100) | i (6) | v (10) | t (15)]. With
``M_c`` [n_c, 100] the binary component-to-triplet map of the dataset's mapping file (``M_c[j, k] = 1`` iff triplet
k has component c equal to j), guidance computes ``g = Π_c (p_c M_c)`` (for each triplet, the product of its
components' probabilities) and replaces ``x_ivt`` by ``(1 - λ) x_ivt + λ x_ivt ⊙ g``.
Re-implemented from the paper's description; the DiffTriplet-Anticipation derivative uses the instrument term
only (``components=("i",)``), the paper presumably all three (UNVERIFIED).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bench.datasets.cholec_triplet import COMPONENT_SIZES, JOINT_SLICES
from bench.formats.cholec import MAPPING_COLUMNS

GUIDANCE_COMPONENTS = ("i", "v", "t")


def component_matrix(mapping: np.ndarray, component: str) -> np.ndarray:
    """``M_c`` [n_c, 100] float32 from a mapping table [100, 6] (columns ivt, i, v, t, iv, it)."""
    if component not in GUIDANCE_COMPONENTS:
        raise ValueError(f"component {component!r}; choose from {GUIDANCE_COMPONENTS}")
    mapping = np.asarray(mapping)
    ids = mapping[:, MAPPING_COLUMNS.index(component)]
    size = COMPONENT_SIZES[component]
    if ids.min() < 0 or ids.max() >= size:
        raise ValueError(f"mapping column {component!r} holds ids outside 0..{size - 1}")
    matrix = np.zeros((size, len(mapping)), dtype=np.float32)
    matrix[ids, mapping[:, 0]] = 1.0
    return matrix


class AssociationGuidance:
    """The guidance step as a callable on x0 probabilities [B, 131, T] (returns a new tensor).

    ``scale`` is λ (0 disables guidance; the derivative's default is 1.0); ``components`` the component terms
    in the product (``("i", "v", "t")`` or the derivative's ``("i",)``).
    """

    def __init__(self, mapping: np.ndarray, scale: float = 1.0, components: Sequence[str] = GUIDANCE_COMPONENTS
                 ) -> None:
        unknown = [c for c in components if c not in GUIDANCE_COMPONENTS]
        if unknown or not components:
            raise ValueError(f"guidance components {list(components)} must be a non-empty subset of "
                             f"{GUIDANCE_COMPONENTS}")
        self.scale = float(scale)
        self.components = tuple(components)
        self.matrices = {c: torch.from_numpy(component_matrix(mapping, c)) for c in self.components}

    def agreement(self, probs: torch.Tensor) -> torch.Tensor:
        """g [B, 100, T]: for each triplet the product of its components' probabilities."""
        g = torch.ones_like(probs[:, JOINT_SLICES["ivt"]])
        for component in self.components:
            matrix = self.matrices[component].to(device=probs.device, dtype=probs.dtype)
            g = g * torch.einsum("bjt,jk->bkt", probs[:, JOINT_SLICES[component]], matrix)
        return g

    def __call__(self, probs: torch.Tensor) -> torch.Tensor:
        if self.scale == 0:
            return probs
        triplets = probs[:, JOINT_SLICES["ivt"]]
        guided = (1 - self.scale) * triplets + self.scale * triplets * self.agreement(probs)
        return torch.cat([guided, probs[:, JOINT_SLICES["ivt"].stop:]], dim=1)
