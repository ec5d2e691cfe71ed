"""OFS-k, the motion-memorization score, and NMF, the natural motion filter (re-implementation).

The paper defines OFS-k ("optical flow similarity") and NMF ("natural motion filtering") without formulas, k or
thresholds (sheet section 3: unknown). Every choice here is the sheet's *proposal*, not the paper's, and each is a
named option of :class:`OFSSettings` with its default and reason:

- a flow field is one consecutive-frame flow ``[2, H, W]`` (``flow.py``); both videos' fields are resized to one
  comparison grid (``size``, bilinear, vectors scaled by the resize ratio per axis, so they stay in grid pixels);
- the similarity of two fields ``a``, ``b`` is ``cosine``: ``<a, b> / (|a| |b|)`` over the flattened fields (0 when
  either is all zero: a static field has no direction), or ``neg_epe``: ``-mean_pixels |a - b|_2``;
- OFS-k of a generated video against a training video is the mean of the k largest pair similarities, over all
  pairs (i of the generated fields, j of the training fields; ``pairing="all"``) or over i == j only
  (``"aligned"``); with fewer than k pairs left, the mean of those there are;
- NMF (``nmf=True``) drops, on both sides, fields whose mean magnitude is below ``min_magnitude`` (static) or
  whose spatial spread ``sqrt(mean |f - mean(f)|^2)`` is below ``min_nonuniformity`` times the mean magnitude
  (near-uniform motion: a camera pan); a pair with no pair left scores NaN.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

PAIRINGS = ("all", "aligned")
SIMILARITIES = ("cosine", "neg_epe")
LABEL = "re-implementation; OFS-k and NMF definitions are the sheet's proposal, not the paper's"


@dataclass(frozen=True)
class OFSSettings:
    """The knobs of OFS-k and NMF (all proposals; the paper publishes none).

    Args:
        k: pair similarities averaged (3: a motion copied over a few frames counts, one chance match does not).
        pairing: ``"all"`` frame pairs (a copied motion may start at another frame) or ``"aligned"`` (i == j).
        similarity: ``"cosine"`` (direction and relative magnitude of the whole field, scale-free) or
            ``"neg_epe"`` (negative mean end-point error in grid pixels; also penalises speed differences).
        size: comparison grid (height, width); (32, 32) is coarse enough to discount pixel-level flow noise and
            puts videos of different resolutions on one grid.
        nmf: apply the natural motion filter.
        min_magnitude: NMF's static threshold, mean flow magnitude in grid pixels per frame (0.1 grid px: below
            the sub-pixel accuracy of the flow back-ends, i.e. no motion).
        min_nonuniformity: NMF's pan threshold on spread / mean magnitude (0.25: a pure translation has 0, an
            object covering a tenth of the frame on a still background about 3).
    """

    k: int = 3
    pairing: str = "all"
    similarity: str = "cosine"
    size: tuple[int, int] = (32, 32)
    nmf: bool = False
    min_magnitude: float = 0.1
    min_nonuniformity: float = 0.25

    def __post_init__(self) -> None:
        if int(self.k) != self.k or self.k < 1:
            raise ValueError(f"OFSSettings: k must be a positive integer; got {self.k!r}")
        if self.pairing not in PAIRINGS:
            raise ValueError(f"OFSSettings: pairing must be one of {PAIRINGS}; got {self.pairing!r}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"OFSSettings: similarity must be one of {SIMILARITIES}; got {self.similarity!r}")
        size = tuple(self.size)
        if len(size) != 2 or any(int(s) != s or s < 1 for s in size):
            raise ValueError(f"OFSSettings: size must be (height, width), two positive integers; got {self.size!r}")
        object.__setattr__(self, "size", (int(size[0]), int(size[1])))
        if self.min_magnitude < 0 or self.min_nonuniformity < 0:
            raise ValueError(f"OFSSettings: min_magnitude and min_nonuniformity must be >= 0; got "
                             f"{self.min_magnitude!r}, {self.min_nonuniformity!r}")

    def describe(self) -> dict[str, Any]:
        """The settings with the re-implementation label, for provenance."""
        return {**asdict(self), "size": list(self.size), "label": LABEL}


def _flows(flows: Any, what: str) -> torch.Tensor:
    """``flows`` (numpy or torch ``[N, 2, H, W]``) as a float64 CPU tensor; anything else is a ValueError."""
    tensor = flows.detach().cpu() if isinstance(flows, torch.Tensor) else torch.from_numpy(np.asarray(flows))
    if tensor.ndim != 4 or tensor.shape[1] != 2 or tensor.shape[0] < 1:
        raise ValueError(f"{what}: expected flow fields [T-1, 2, H, W] (at least one, e.g. from "
                         f"flow.FarnebackFlow()(video)); got shape {tuple(tensor.shape)}")
    tensor = tensor.double()
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{what}: the flow fields hold NaN or infinite values")
    return tensor


def resize_flows(flows: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``[N, 2, H, W]`` flows resized to ``size`` (bilinear), x scaled by ``w / W`` and y by ``h / H``."""
    height, width = flows.shape[-2:]
    if (height, width) == tuple(size):
        return flows
    resized = F.interpolate(flows, size=size, mode="bilinear", align_corners=False)
    return resized * torch.tensor([size[1] / width, size[0] / height], dtype=flows.dtype).view(1, 2, 1, 1)


def natural_motion_mask(flows: torch.Tensor, min_magnitude: float, min_nonuniformity: float) -> torch.Tensor:
    """NMF: True for each ``[2, H, W]`` field kept, False for static ones (mean magnitude < ``min_magnitude``)
    and near-uniform ones (spread ``sqrt(mean |f - mean f|^2)`` < ``min_nonuniformity`` * mean magnitude)."""
    magnitude = flows.norm(dim=1).flatten(1).mean(1)
    centred = flows - flows.mean(dim=(2, 3), keepdim=True)
    spread = centred.pow(2).sum(1).flatten(1).mean(1).sqrt()
    return (magnitude >= min_magnitude) & (spread >= min_nonuniformity * magnitude)


def flow_similarity(a: torch.Tensor, b: torch.Tensor, similarity: str = "cosine") -> torch.Tensor:
    """``[Na, Nb]`` similarities of every field of ``a`` ``[Na, 2, h, w]`` to every field of ``b`` (same grid)."""
    if similarity == "cosine":
        flat_a, flat_b = a.flatten(1), b.flatten(1)
        norms = flat_a.norm(dim=1)[:, None] * flat_b.norm(dim=1)[None, :]
        dots = flat_a @ flat_b.T
        return torch.where(norms > 0, dots / norms.clamp_min(torch.finfo(dots.dtype).tiny), torch.zeros_like(dots))
    if similarity == "neg_epe":
        return -(a[:, None] - b[None, :]).norm(dim=2).flatten(2).mean(2)
    raise ValueError(f"unknown flow similarity {similarity!r}; expected one of {SIMILARITIES}")


def top_k_mean(similarities: torch.Tensor, k: int, pairing: str = "all", keep_a: torch.Tensor | None = None,
               keep_b: torch.Tensor | None = None) -> float:
    """Mean of the ``k`` largest entries of ``similarities`` ``[Na, Nb]`` among the pairs allowed by ``pairing``
    (``"all"`` or ``"aligned"``: i == j) whose rows and columns are kept; NaN when no pair is left."""
    rows, cols = similarities.shape
    keep_a = torch.ones(rows, dtype=torch.bool) if keep_a is None else keep_a
    keep_b = torch.ones(cols, dtype=torch.bool) if keep_b is None else keep_b
    allowed = keep_a[:, None] & keep_b[None, :]
    if pairing == "aligned":
        allowed = allowed & torch.eye(rows, cols, dtype=torch.bool)
    elif pairing != "all":
        raise ValueError(f"unknown OFS pairing {pairing!r}; expected one of {PAIRINGS}")
    values = similarities[allowed]
    if values.numel() == 0:
        return float("nan")
    return float(values.topk(min(k, values.numel())).values.mean())


def _prepared(flows: Any, settings: OFSSettings, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    fields = resize_flows(_flows(flows, what), settings.size)
    if settings.nmf:
        return fields, natural_motion_mask(fields, settings.min_magnitude, settings.min_nonuniformity)
    return fields, torch.ones(fields.shape[0], dtype=torch.bool)


def ofs(generated: Any, reference: Any, settings: OFSSettings | None = None) -> float:
    """OFS-k of a generated video's flows against a training video's flows (each ``[T-1, 2, H, W]``)."""
    settings = settings or OFSSettings()
    gen, keep_gen = _prepared(generated, settings, "generated flows")
    ref, keep_ref = _prepared(reference, settings, "reference flows")
    return top_k_mean(flow_similarity(gen, ref, settings.similarity), settings.k, settings.pairing, keep_gen,
                      keep_ref)


def ofs_matrix(generated: Sequence[Any], references: Sequence[Any], settings: OFSSettings | None = None
               ) -> np.ndarray:
    """OFS-k of every generated video against every reference video: float64 ``[G, R]`` (NaN where NMF left no
    pair). Each video's fields are resized and filtered once."""
    settings = settings or OFSSettings()
    gens = [_prepared(flows, settings, f"generated video {i}") for i, flows in enumerate(generated)]
    refs = [_prepared(flows, settings, f"reference video {j}") for j, flows in enumerate(references)]
    scores = np.full((len(gens), len(refs)), np.nan)
    if not gens or not refs:
        return scores
    if settings.similarity == "cosine":  # one product for all pairs of fields, then per-video blocks
        every = flow_similarity(torch.cat([g for g, _ in gens]), torch.cat([r for r, _ in refs]), "cosine")
        gen_edges = np.cumsum([0] + [g.shape[0] for g, _ in gens])
        ref_edges = np.cumsum([0] + [r.shape[0] for r, _ in refs])
    for i, (gen, keep_gen) in enumerate(gens):
        for j, (ref, keep_ref) in enumerate(refs):
            if settings.similarity == "cosine":
                block = every[gen_edges[i]:gen_edges[i + 1], ref_edges[j]:ref_edges[j + 1]]
            else:
                block = flow_similarity(gen, ref, settings.similarity)
            scores[i, j] = top_k_mean(block, settings.k, settings.pairing, keep_gen, keep_ref)
    return scores
