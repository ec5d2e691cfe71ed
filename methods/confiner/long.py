"""ConFiner-Long (arXiv 2408.13423 v4, §3.4): long videos from segments of the chain, with three constraints.

- Consistency initialisation: one base noise [B, C, L, h, w]; each segment's initial noise is a frame-wise
  shuffle of it (:func:`shuffled_base_noise`), so every frame of every segment is exactly one of the base frames.
- Coherence guidance: segments' structures are generated in order; at each timestep t the new segment's predicted
  noise is corrected ε_t ← ε̂_t − γ ∇_{ε̂_t} ‖ε̂_t − ε_t^prev‖² = ε̂_t − 2γ (ε̂_t − ε_t^prev), ε_t^prev the previous
  segment's (corrected) noise at the same t (:class:`CoherenceGuidance`); ‖·‖² sums over all elements, as written.
- Staggered refinement: refinement runs half a segment behind the control stage; each pass refines the second
  half of one structure joined to the first half of the next (Eq. 13), so every join is refined in one window
  (:func:`staggered_windows`, :func:`staggered_refinement`).

γ is not given by the paper. ``DEFAULT_GAMMA`` = 0.05 (ours): the correction is then ε ← 0.9 ε̂ + 0.1 ε^prev, a
pull of one tenth towards the previous segment's noise that keeps the new segment's own prediction dominant;
γ = 0.5 would copy the previous segment's ε outright and γ > 0.5 overshoots past it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

DEFAULT_GAMMA = 0.05
DEFAULT_SEGMENT_LENGTH = 16  # frames per segment: the experts' native 16-frame clips (AnimateDiff, ModelScope)


@dataclass(frozen=True)
class LongSettings:
    """ConFiner-Long's knobs.

    Args:
        segment_length: L, frames per segment (even: staggered refinement joins half-segments).
        num_segments: segments generated (the long video has L × num_segments frames).
        gamma: γ of the coherence guidance (0 disables it; the paper gives no value, ``DEFAULT_GAMMA`` is ours).
        shuffle_init: initialise each segment with a frame-wise shuffle of one base noise (False: independent noise).
        staggered: refine joins of half-segments (False: refine each segment on its own).
    """

    segment_length: int = DEFAULT_SEGMENT_LENGTH
    num_segments: int = 4
    gamma: float = DEFAULT_GAMMA
    shuffle_init: bool = True
    staggered: bool = True

    def __post_init__(self) -> None:
        if self.segment_length < 2 or self.segment_length % 2:
            raise ValueError(f"LongSettings: segment_length must be an even number ≥ 2 (staggered refinement joins "
                             f"half-segments), got {self.segment_length}")
        if self.num_segments < 1:
            raise ValueError(f"LongSettings: num_segments must be ≥ 1, got {self.num_segments}")
        if not 0 <= self.gamma < 0.5:
            raise ValueError(f"LongSettings: gamma must be in [0, 0.5) (0.5 copies the previous segment's noise, "
                             f"more overshoots it), got {self.gamma}")


def shuffled_base_noise(base: torch.Tensor, num_segments: int,
                        generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Each segment's initial noise: ``base`` [B, C, L, h, w] with its frames (dim 2) permuted, one permutation per
    segment drawn from ``generator``; the first segment keeps the base order. Every frame is one base frame exactly,
    so per-frame marginals are those of the base noise."""
    if base.dim() != 5:
        raise ValueError(f"shuffled_base_noise: base noise must be [B, C, L, h, w], got shape {tuple(base.shape)}")
    frames = base.shape[2]
    perms = [torch.arange(frames)] + [torch.randperm(frames, generator=generator) for _ in range(num_segments - 1)]
    return [base[:, :, perm.to(base.device)] for perm in perms]


def coherence_correction(eps_hat: torch.Tensor, eps_prev: torch.Tensor, gamma: float) -> torch.Tensor:
    """ε̂ − γ ∇_{ε̂} ‖ε̂ − ε^prev‖² = ε̂ − 2γ (ε̂ − ε^prev) (the gradient in closed form)."""
    if eps_hat.shape != eps_prev.shape:
        raise ValueError(f"coherence guidance needs segments of one shape; new {tuple(eps_hat.shape)} vs previous "
                         f"{tuple(eps_prev.shape)}")
    return eps_hat - 2.0 * gamma * (eps_hat - eps_prev)


@dataclass
class CoherenceGuidance:
    """Wraps a control expert's ε-model across segments: records each timestep's (corrected) ε of the current
    segment and corrects the next segment's ε̂ at the same timestep towards it. Call :meth:`next_segment` between
    segments; the first segment is not corrected."""

    gamma: float = DEFAULT_GAMMA
    previous: dict[int, torch.Tensor] = field(default_factory=dict)
    current: dict[int, torch.Tensor] = field(default_factory=dict)

    def __call__(self, eps_hat: torch.Tensor, t: int) -> torch.Tensor:
        eps = eps_hat if t not in self.previous or self.gamma == 0 else \
            coherence_correction(eps_hat, self.previous[t].to(eps_hat), self.gamma)
        self.current[t] = eps.detach()
        return eps

    def wrap(self, eps_model: Callable[[torch.Tensor, int], torch.Tensor]) -> Callable[[torch.Tensor, int],
                                                                                        torch.Tensor]:
        """``eps_model`` with the guidance applied to its output."""
        return lambda x, t: self(eps_model(x, t), t)

    def next_segment(self) -> None:
        self.previous, self.current = self.current, {}


def staggered_windows(num_segments: int, segment_length: int) -> list[tuple[int, int]]:
    """Frame ranges [start, end) of the refinement passes over the concatenated structures (N segments of L frames):
    the first half-segment [0, L/2), each join [kL + L/2, (k+1)L + L/2) for k < N − 1 (second half of structure k
    with the first half of k + 1, Eq. 13), and the last half-segment; every frame is refined exactly once."""
    if segment_length % 2 or segment_length < 2 or num_segments < 1:
        raise ValueError(f"staggered refinement needs an even segment_length ≥ 2 and ≥ 1 segment, got "
                         f"segment_length={segment_length}, num_segments={num_segments}")
    half, total = segment_length // 2, num_segments * segment_length
    joins = [(k * segment_length + half, (k + 1) * segment_length + half) for k in range(num_segments - 1)]
    return [(0, half), *joins, (total - half, total)]


def staggered_refinement(structures: list[torch.Tensor], refine: Callable[[torch.Tensor], torch.Tensor],
                         staggered: bool = True) -> torch.Tensor:
    """Refine segment structures [B, C, L, h, w] into one long latent [B, C, N·L, h, w]: ``refine`` runs on each
    staggered window (or, with ``staggered=False``, on each segment) and must keep its shape."""
    if not structures or any(s.shape != structures[0].shape or s.dim() != 5 for s in structures):
        raise ValueError("staggered_refinement: needs ≥ 1 segment structure, all [B, C, L, h, w] of one shape; got "
                         f"{[tuple(s.shape) for s in structures]}")
    video = torch.cat(structures, dim=2)
    length = structures[0].shape[2]
    windows = staggered_windows(len(structures), length) if staggered else \
        [(k * length, (k + 1) * length) for k in range(len(structures))]
    out = torch.empty_like(video)
    for start, end in windows:
        refined = refine(video[:, :, start:end])
        if refined.shape != video[:, :, start:end].shape:
            raise ValueError(f"refine changed the window's shape: {tuple(video[:, :, start:end].shape)} → "
                             f"{tuple(refined.shape)}")
        out[:, :, start:end] = refined
    return out
