"""Which sampling steps are guided, and with what weight: Compress Guidance's schedule and the baselines.

A schedule is one integer counter per respaced step index ``i`` (``n - 1`` = the first, noisiest step; 0 = the
last). Compress Guidance (``get_guidance_timesteps_with_weight`` in the authors' scripts) spreads a budget of
``int(n / skip)`` slots with slot ``j`` landing on index ``(n - 1) - int(c * j**k)``, ``c = n / slots**k``; slots
that land on the same index add up, so larger ``k`` packs them near the start into fewer, heavier steps. The
counters at indices 1 and 0 are then *set* to 1 (the last two steps are always guided, a collision there is not
kept). With n = 250, skip = 5 the slots occupy 50, 47, 41, 36, 32, 28 distinct indices for k = 1..6.

Index conventions (how a step finds its counter; the authors' scripts differ, and it changes which steps are
guided): ``respaced`` reads the counter at ``i`` (the authors' ADM classifier-free sampler); ``classifier_script``
reads ``int(t / (T // n))`` of the original timestep t (their ADM classifier-guidance scripts; equal to ``i`` for
n = 250, T = 1000); ``dit_script`` reads ``int((t + 1) / (T // n)) - 1`` with Python's negative wrap-around
(their DiT script: mostly ``i - 1``, and the last step reads the counter of index n - 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEDULE_KINDS = ("compress", "uniform", "early_stop", "full", "none")
INDEX_CONVENTIONS = ("respaced", "classifier_script", "dit_script")


def compress_counts(n: int, skip: float, k: float) -> list[int]:
    """The authors' ``get_guidance_timesteps_with_weight(n, skip, k)``: slot counters per respaced index."""
    slots = int(n / skip)
    if slots < 1:
        raise ValueError(f"compress schedule: skip={skip} leaves no guidance slot in {n} steps")
    c = n / slots ** k
    counts = [0] * n
    for j in range(slots):
        index = (n - 1) - int(c * j ** k)
        if not 0 <= index < n:  # the authors' script prints this and exits
            raise ValueError(f"compress schedule: slot {j} lands on index {index}, outside [0, {n}) "
                             f"(n={n}, skip={skip}, k={k}, c={c})")
        counts[index] += 1
    counts[0] = counts[1] = 1  # the last two steps always guided (set, not added)
    return counts


def uniform_counts(n: int, skip: int) -> list[int]:
    """Uniform skipping (UG): every ``skip``-th step ((i + 1) % skip == 0) plus the last two, unit weight."""
    return [1 if (i + 1) % skip == 0 or i <= 1 else 0 for i in range(n)]


def early_stop_counts(n: int, steps: int) -> list[int]:
    """Early stopping (ES): guide the first ``steps`` (noisiest) steps only, unit weight. The authors' script
    tests ``int(t / 4) + 1 >= 200`` at n = 250, which guides 51 steps: ``steps=51`` reproduces it exactly."""
    if not 0 <= steps <= n:
        raise ValueError(f"early_stop schedule: steps must lie in [0, {n}], got {steps}")
    return [1 if i >= n - steps else 0 for i in range(n)]


@dataclass(frozen=True)
class GuidanceSchedule:
    """Per-step guidance counters for ``n`` respaced steps and how a step looks its counter up."""

    counts: tuple[int, ...]
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    index_convention: str = "respaced"
    num_train_timesteps: int = 1000

    def __post_init__(self) -> None:
        if self.index_convention not in INDEX_CONVENTIONS:
            raise ValueError(f"index_convention must be one of {INDEX_CONVENTIONS}, got {self.index_convention!r}")

    @property
    def n(self) -> int:
        return len(self.counts)

    @property
    def forces_final_steps(self) -> bool:
        """Compress and uniform schedules guide the last two steps whatever the budget (the paper's step counts
        leave those two out: "50 guided steps" at n = 250, skip = 5, k = 1 are 52 classifier passes)."""
        return self.kind in ("compress", "uniform")

    def lookup(self, index: int, timestep: int | None = None) -> int:
        """The counter index that step ``index`` (original timestep ``timestep``) reads under the convention."""
        if self.index_convention == "respaced":
            return index
        if timestep is None:
            raise ValueError(f"index convention {self.index_convention!r} needs the step's original timestep")
        gap = self.num_train_timesteps // self.n
        if self.index_convention == "classifier_script":
            return int(timestep / gap)
        return (int((timestep + 1) / gap) - 1) % self.n  # dit_script: -1 wraps to n - 1 as numpy indexing does

    def weight(self, index: int, timestep: int | None = None) -> int:
        """The counter step ``index`` applies (0 = unguided)."""
        return self.counts[self.lookup(index, timestep)]

    def guided_indices(self, timesteps: list[int] | None = None) -> list[int]:
        """Step indices (descending, in sampling order) that run guidance, given each index's original timestep."""
        return [i for i in reversed(range(self.n))
                if self.weight(i, timesteps[i] if timesteps is not None else None) > 0]

    def describe(self, timesteps: list[int] | None = None) -> dict[str, Any]:
        guided = self.guided_indices(timesteps)
        return {"kind": self.kind, **self.params, "n": self.n, "index_convention": self.index_convention,
                "guided_steps": len(guided), "total_weight": sum(self.counts),
                "max_weight": max(self.counts) if self.counts else 0}


def build_schedule(spec: dict[str, Any], n: int, num_train_timesteps: int = 1000) -> GuidanceSchedule:
    """A schedule from a config dict: ``{"kind": "compress", "skip": 5, "k": 2}``, ``{"kind": "uniform",
    "skip": 5}``, ``{"kind": "early_stop", "steps": 50}``, ``{"kind": "full"}`` or ``{"kind": "none"}``, with an
    optional ``index_convention``."""
    spec = dict(spec)
    kind = spec.pop("kind")
    convention = spec.pop("index_convention", "respaced")
    if kind == "compress":
        params = {"skip": spec.pop("skip", 5), "k": spec.pop("k", 2.0)}
        counts = compress_counts(n, params["skip"], params["k"])
    elif kind == "uniform":
        params = {"skip": int(spec.pop("skip", 5))}
        counts = uniform_counts(n, params["skip"])
    elif kind == "early_stop":
        params = {"steps": int(spec.pop("steps", 50))}
        counts = early_stop_counts(n, params["steps"])
    elif kind in ("full", "none"):
        params, counts = {}, [1 if kind == "full" else 0] * n
    else:
        raise ValueError(f"unknown guidance schedule kind {kind!r}; use one of {SCHEDULE_KINDS}")
    if spec:
        raise ValueError(f"guidance schedule {kind!r}: unknown option(s) {sorted(spec)}")
    return GuidanceSchedule(tuple(counts), kind, params, convention, num_train_timesteps)
