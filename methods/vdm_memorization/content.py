"""GSSCD, the content memorization measure of "Investigating Memorization in Video Diffusion Models" (Chen et al.,
arXiv 2410.21669), re-implemented: the paper gives no formula, code or thresholds, so every choice below is the
paper sheet's proposal (``shared/papers/vdm_memorization.md`` section 3), a named option, not the paper's.

A generated video and a reference (a training video, or a training image as a one-frame video) are compared by
their per-frame unit-norm copy-detection descriptors (SSCD; any extractor returning ``{"pool": [N, D]}``, e.g.
``SSCDFeatures`` or the weight-free ``PixelCorrelationFeatures`` for toy data). With S the cosine matrix of the
generated video's F frames × the reference's R frames, the (video, reference) score is

- ``aggregate="max"`` (default; the sheet's proposal, "max over frame pairs"): max_{f, r} S[f, r], one copied
  frame is enough;
- ``"mean_of_max"``: mean_f max_r S[f, r], how much of the generated video finds a copy;
- ``"topk"``: the mean of the ``k`` largest entries of S (``k`` default 4, a guess), between the two.

A generated video's GSSCD is its best score over the references (and which reference gave it); it is memorized at
threshold τ when GSSCD > τ. Thresholds default to (0.5, 0.7), the sheet's SSCD values from the image memorization
literature, not the paper's (unknown), and do not carry over to another descriptor.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

AGGREGATES = ("max", "mean_of_max", "topk")
DEFAULT_THRESHOLDS = (0.5, 0.7)
DEFAULT_TOPK = 4
LABEL = "re-implementation; GSSCD formula, aggregation and thresholds not from the paper (sheet's proposal)"

Descriptors = torch.Tensor | Sequence[torch.Tensor]


def frame_descriptors(extractor: Any, frames: torch.Tensor) -> torch.Tensor:
    """Unit-norm descriptors [T, D] of uint8 frames [T, H, W, 3] (an image [H, W, 3] is one frame) from an
    extractor called as ``extractor(frames)["pool"]`` (``SSCDFeatures``, ``PixelCorrelationFeatures``)."""
    if frames.dtype != torch.uint8 or frames.dim() not in (3, 4) or frames.shape[-1] != 3:
        raise ValueError(f"frame_descriptors: frames must be uint8 [T, H, W, 3] or an image [H, W, 3], got "
                         f"{frames.dtype} {tuple(frames.shape)}")
    pool = extractor(frames.unsqueeze(0) if frames.dim() == 3 else frames)["pool"]
    return torch.nn.functional.normalize(pool.float(), dim=-1)


def _as_list(descriptors: Descriptors, what: str) -> list[torch.Tensor]:
    """Per-video descriptor matrices [F_i, D] (a [D] vector is a one-frame reference: a training image)."""
    items = list(descriptors.unbind(0)) if isinstance(descriptors, torch.Tensor) and descriptors.dim() == 3 \
        else [descriptors] if isinstance(descriptors, torch.Tensor) else list(descriptors)
    if not items:
        raise ValueError(f"gsscd: no {what} (pass at least one descriptor matrix [frames, D])")
    out = []
    for number, item in enumerate(items):
        matrix = item.unsqueeze(0) if item.dim() == 1 else item
        if matrix.dim() != 2 or matrix.shape[0] == 0:
            raise ValueError(f"gsscd: {what} {number} must be descriptors [frames >= 1, D] (or [D] for an image), "
                             f"got {tuple(item.shape)}")
        out.append(torch.nn.functional.normalize(matrix.float(), dim=1))
    dims = {m.shape[1] for m in out}
    if len(dims) != 1:
        raise ValueError(f"gsscd: {what} have descriptor sizes {sorted(dims)}; use one extractor for all")
    return out


def aggregate_pairs(similarity: torch.Tensor, aggregate: str = "max", k: int = DEFAULT_TOPK) -> torch.Tensor:
    """The score of one (generated video, reference) pair from its frame cosine matrix [F, R] (see module doc)."""
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    if similarity.dim() != 2 or similarity.numel() == 0:
        raise ValueError(f"aggregate_pairs: expected a non-empty [F, R] matrix, got {tuple(similarity.shape)}")
    if aggregate == "max":
        return similarity.max()
    if aggregate == "mean_of_max":
        return similarity.max(dim=1).values.mean()
    if k > similarity.numel():
        raise ValueError(f"aggregate='topk': k={k} exceeds the {similarity.shape[0]} x {similarity.shape[1]} frame "
                         "pairs of a (generated, reference) pair; lower k or compare more frames")
    return similarity.flatten().topk(k).values.mean()


@dataclass
class GSSCDResult:
    """Scores of G generated videos against J references: ``scores`` [G, J], each video's best reference
    (``gsscd`` [G], ``best_reference`` [G]) and ``memorized`` {threshold: bool [G]} (gsscd > threshold)."""

    scores: torch.Tensor
    gsscd: torch.Tensor
    best_reference: torch.Tensor
    memorized: dict[float, torch.Tensor] = field(default_factory=dict)

    def fractions(self) -> dict[float, float]:
        """Fraction of generated videos memorized at each threshold."""
        return {t: float(flags.float().mean()) for t, flags in self.memorized.items()}


def check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(t) for t in thresholds)
    if not values or any(not -1.0 <= t <= 1.0 for t in values):
        raise ValueError(f"thresholds must be one or more cosines in [-1, 1], got {list(thresholds)}")
    return values


def gsscd(generated: Descriptors, references: Descriptors, aggregate: str = "max", k: int = DEFAULT_TOPK,
          thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> GSSCDResult:
    """GSSCD of each generated video against every reference.

    ``generated``: descriptors [G, F, D] or a list of [F_i, D]; ``references``: a list of [R_j, D] (a training
    video's sampled frames) or [D] (a training image); rows are L2-normalised here. Ties between references go to
    the lower index.
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
    if aggregate == "topk" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    levels = check_thresholds(thresholds)
    videos, refs = _as_list(generated, "generated videos"), _as_list(references, "references")
    if videos[0].shape[1] != refs[0].shape[1]:
        raise ValueError(f"gsscd: generated descriptors have D = {videos[0].shape[1]} but references D = "
                         f"{refs[0].shape[1]}; use one extractor for both")
    bank = torch.cat(refs)  # every reference frame, one cosine matrix per generated video
    sizes = [r.shape[0] for r in refs]
    owner = torch.repeat_interleave(torch.arange(len(refs)), torch.tensor(sizes))  # reference of each bank row
    scores = torch.empty(len(videos), len(refs))
    for g, video in enumerate(videos):
        similarity = video @ bank.T
        if aggregate == "topk":
            for j, block in enumerate(similarity.split(sizes, dim=1)):
                scores[g, j] = aggregate_pairs(block, aggregate, k)
            continue
        # best frame of each reference for each generated frame [F, J], without a Python loop over references
        per_frame = torch.full((video.shape[0], len(refs)), -torch.inf).scatter_reduce(
            1, owner.expand(video.shape[0], -1), similarity, reduce="amax")
        scores[g] = per_frame.max(dim=0).values if aggregate == "max" else per_frame.mean(dim=0)
    best, index = scores.max(dim=1)
    return GSSCDResult(scores, best, index, {t: best > t for t in levels})


def describe(aggregate: str = "max", k: int = DEFAULT_TOPK,
             thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """The settings a GSSCD number depends on, for the run's results (the extractor describes itself)."""
    return {"measure": "GSSCD", "label": LABEL, "aggregate": aggregate, "k": k if aggregate == "topk" else None,
            "thresholds": list(check_thresholds(thresholds)), "memorized_if": "gsscd > threshold",
            "image_references": "a training image is a one-frame reference"}
