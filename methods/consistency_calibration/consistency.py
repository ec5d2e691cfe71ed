"""Consistency Calibration (Tao et al. 2024): confidence = agreement among noisy copies of the logits.

Follows the author library's ``ConsistencyCalibrator`` (Linwei94/calibrator): T copies z + eps * n_t with
Gaussian or uniform n_t, aggregated by vote fraction ("consistency") or mean softmax ("mean"); eps is searched
on validation data by ECE-15 (or NLL) with the library's ``fine_grained`` or ``grid_search`` schedule, for
both noise kinds, keeping the kind with the lower criterion. Two differences, both deliberate:

- noise is drawn per sample from a counter-based stream (``noise.unit_noise``), so results are
  reproducible from the seed whatever the batching. The eps search draws fresh noise for every candidate, as the
  library does (its global generator simply moves on); each candidate's stream is seeded from the sample's seed,
  the noise kind and the candidate's position in the search (``search_seeds``), so the search is reproducible
  from ``run.seed``. ``search_draws="common"`` instead reuses one set of draws for every candidate (common random
  numbers: the search then compares eps values on the same noise, a smoother and cheaper but different search);
- the library's NLL search passes keyword arguments that ``nn.NLLLoss`` does not take; here the NLL criterion
  is the harness's -log(p_true + 1e-12).

Non-finite logits are never turned into numbers: ``fit`` refuses them, and ``calibrate`` gives NaN probabilities
for a sample whose logits hold a NaN or ±Inf (the library's argmax votes would give such a row finite fractions).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from bench.methods.consistency_calibration.calibrator import CALIBRATORS, Calibrator, default_seeds
from bench.methods.consistency_calibration.noise import NOISE_KINDS, splitmix64, unit_noise
from bench.finite import require_finite_values
from bench.metrics.calibration import expected_calibration_error
from bench.metrics.classification import NLL_EPSILON

AGGREGATIONS = ("consistency", "mean")
SEARCH_METHODS = ("fine_grained", "grid_search")
CRITERIA = ("ece", "nll")
SEARCH_DRAWS = ("fresh", "common")


def eps_schedule(search_method: str) -> list[np.ndarray] | None:
    """The library's search grids; ``None`` entries mean "centred on the best so far" (see ``refine_grid``)."""
    if search_method == "grid_search":
        return [np.linspace(0, 10, 100)]
    if search_method == "fine_grained":
        return [np.linspace(0, 10, 20)]
    raise ValueError(f"search_method must be one of {SEARCH_METHODS}, got {search_method!r}")


def refine_grid(best: float, level: int) -> np.ndarray:
    """Refinement ``level`` (0, 1, 2) of ``fine_grained``: 20 points over best -/+ 10^-level (may leave [0, 10])."""
    return np.linspace(best - 1 / 10**level, best + 1 / 10**level, 20)


def search_seeds(seeds: torch.Tensor, kind: str, candidate: int) -> torch.Tensor:
    """Per-sample seeds of the fresh noise that search candidate ``candidate`` (its 0-based position among the
    eps values the search of ``kind`` evaluates) draws: output number ``kind index * 2^32 + candidate`` of each
    sample's SplitMix64 stream. Distinct for every (sample, kind, candidate), so no two candidates share draws,
    and a function of the sample's seed only (batch-independent, reproducible from ``run.seed``)."""
    counter = NOISE_KINDS.index(kind) * (1 << 32) + candidate
    return splitmix64(seeds.to(torch.int64), torch.tensor(counter, dtype=torch.int64, device=seeds.device))


@CALIBRATORS.register_module()
class ConsistencyCalibrator(Calibrator):
    """Post-hoc CC at the logit level; outputs probabilities (vote fractions are multiples of 1/T).

    Args:
        noise: "auto" (fit both and keep the better on validation, the library's behaviour), "gaussian"
            (n ~ N(0, 1)) or "uniform" (n ~ U[0, 1): eps is the full width, not a half-width).
        aggregation: "consistency" (vote fraction of each class) or "mean" (mean softmax of the copies).
        num_samples: T for calibration (library default 1000).
        search_num_samples: T while searching eps (None: the same T, as the library does).
        search_draws: "fresh" (new noise for every eps candidate, as the library draws; the default) or
            "common" (one set of draws for every candidate: common random numbers).
        search_method: "fine_grained" (20 points over [0, 10], then 3 refinements of 20 points over
            +-1, +-0.1, +-0.01) or "grid_search" (100 points over [0, 10]).
        criterion: "ece" (15 bins, lo < conf <= hi) or "nll".
        eps: a fixed eps (skips the search; then ``noise`` must not be "auto").
        max_elements: noise elements drawn at once: bounds memory (about 24 bytes each) and, at the default
            2^18, keeps the work buffers in CPU cache.
    """

    output = "probs"

    def __init__(self, noise: str = "auto", aggregation: str = "consistency", num_samples: int = 1000,
                 search_num_samples: int | None = None, search_method: str = "fine_grained",
                 criterion: str = "ece", eps: float | None = None, max_elements: int = 1 << 18,
                 search_draws: str = "fresh") -> None:
        if noise not in ("auto", *NOISE_KINDS):
            raise ValueError(f"noise must be 'auto' or one of {NOISE_KINDS}, got {noise!r}")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        if criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
        if search_draws not in SEARCH_DRAWS:
            raise ValueError(f"search_draws must be one of {SEARCH_DRAWS}, got {search_draws!r}")
        eps_schedule(search_method)
        if eps is not None and noise == "auto":
            raise ValueError("a fixed eps needs a fixed noise kind ('gaussian' or 'uniform')")
        if num_samples < 1 or (search_num_samples is not None and search_num_samples < 1):
            raise ValueError("num_samples and search_num_samples must be positive")
        self.noise, self.aggregation, self.criterion = noise, aggregation, criterion
        self.num_samples, self.search_num_samples = num_samples, search_num_samples or num_samples
        self.search_method, self.max_elements, self.search_draws = search_method, max_elements, search_draws
        self.eps: float | None = eps
        self.fixed_eps = eps is not None
        self.best_loss: float | None = None
        self.per_kind: dict[str, dict[str, float]] | None = None
        self.noise_kind: str | None = None if noise == "auto" else noise
        self.search_log: dict[str, list[tuple[float, float]]] = {}

    # --- calibration ---
    def calibrate(self, logits: torch.Tensor, seeds: torch.Tensor | None = None, *, eps: float | None = None,
                  noise: str | None = None, num_samples: int | None = None) -> torch.Tensor:
        """Calibrated probabilities [N, C] (float32) from logits [N, C]; defaults to the fitted eps and noise."""
        eps = self.eps if eps is None else eps
        noise = noise or self.noise_kind
        if eps is None or noise is None:
            raise RuntimeError("ConsistencyCalibrator is not fitted: call fit() or pass eps and a noise kind")
        seeds = default_seeds(len(logits)) if seeds is None else seeds
        probs = self._aggregate(logits, seeds, [float(eps)], noise, num_samples or self.num_samples)[0]
        probs[~torch.isfinite(logits).all(dim=1)] = torch.nan
        return probs

    def _aggregate(self, logits: torch.Tensor, seeds: torch.Tensor, eps_values: list[float], noise: str,
                   num_samples: int) -> list[torch.Tensor]:
        """Calibrated probabilities for each eps, drawing each chunk's noise once for all of them."""
        logits = logits.float()
        seeds = seeds.to(logits.device)
        n, k = logits.shape
        results = [torch.zeros(n, k, dtype=torch.float32, device=logits.device) for _ in eps_values]
        for rows, draws in self._chunks(n, k, num_samples):
            unit = unit_noise(seeds[rows], draws.start, len(draws), k, noise)
            base = logits[rows].unsqueeze(1)
            for out, eps in zip(results, eps_values, strict=True):
                noisy = base + unit * eps  # the library adds noise * eps to float32 logits
                if self.aggregation == "consistency":  # votes: argmax of each copy (ties to the first class)
                    votes = noisy.argmax(dim=2)
                    out[rows].scatter_add_(1, votes, torch.ones_like(votes, dtype=torch.float32))
                else:
                    out[rows] += torch.softmax(noisy, dim=2).sum(dim=1)
        return [out / num_samples for out in results]

    def _chunks(self, n: int, k: int, num_samples: int) -> Iterator[tuple[slice, range]]:
        """(rows, draws) blocks of at most ``max_elements`` noise values: whole rows when T * C fits."""
        per_row = num_samples * k
        if per_row <= self.max_elements:
            step = max(1, self.max_elements // per_row)
            for lo in range(0, n, step):
                yield slice(lo, min(lo + step, n)), range(num_samples)
        else:
            t_step = max(1, self.max_elements // k)
            for lo in range(n):
                for t in range(0, num_samples, t_step):
                    yield slice(lo, lo + 1), range(t, min(t + t_step, num_samples))

    # --- fitting ---
    def fit(self, logits: torch.Tensor, labels: torch.Tensor, seeds: torch.Tensor | None = None
            ) -> ConsistencyCalibrator:
        """Search eps for each noise kind on validation data; keep the kind with the lower criterion."""
        require_finite_values(logits, "ConsistencyCalibrator.fit: validation logits")
        if self.fixed_eps:
            return self  # a fixed eps: nothing to fit
        seeds = default_seeds(len(logits)) if seeds is None else seeds
        kinds = NOISE_KINDS if self.noise == "auto" else (self.noise,)
        best: dict[str, tuple[float, float]] = {kind: self._search(logits, labels, seeds, kind) for kind in kinds}
        if self.noise == "auto":  # the library keeps gaussian only when strictly better
            self.noise_kind = "gaussian" if best["gaussian"][1] < best["uniform"][1] else "uniform"
        else:
            self.noise_kind = self.noise
        self.eps, self.best_loss = best[self.noise_kind]
        self.per_kind = {kind: {"eps": e, "loss": loss} for kind, (e, loss) in best.items()}
        return self

    def _search(self, logits: torch.Tensor, labels: torch.Tensor, seeds: torch.Tensor, kind: str
                ) -> tuple[float, float]:
        """The library's schedule: evaluate each grid in order, keep the first eps with the lowest criterion."""
        best_eps, best_loss = None, float("inf")
        log: list[tuple[float, float]] = []
        grids = eps_schedule(self.search_method)
        levels = 3 if self.search_method == "fine_grained" else 0
        for level in range(-1, levels):
            grid = [float(e) for e in (grids[0] if level < 0 else refine_grid(best_eps, level))]
            if self.search_draws == "common":  # one set of draws serves every eps of the grid
                probs_per_eps = self._aggregate(logits, seeds, grid, kind, self.search_num_samples)
            else:  # fresh draws per candidate, numbered by position in the whole search
                probs_per_eps = [self._aggregate(logits, search_seeds(seeds, kind, len(log) + i), [eps], kind,
                                                 self.search_num_samples)[0] for i, eps in enumerate(grid)]
            for eps, probs in zip(grid, probs_per_eps, strict=True):
                loss = self._criterion(probs, labels)
                log.append((float(eps), loss))
                if best_eps is None or loss < best_loss:
                    best_eps, best_loss = float(eps), loss
        self.search_log[kind] = log
        return best_eps, best_loss

    def _criterion(self, probs: torch.Tensor, labels: torch.Tensor) -> float:
        labels = labels.to(probs.device).long()
        if self.criterion == "ece":
            confidence, pred = probs.max(dim=1)
            return expected_calibration_error(confidence.cpu(), (pred == labels).double().cpu(), 15)
        p_true = probs.double().gather(1, labels[:, None]).squeeze(1)
        return float(-(p_true + NLL_EPSILON).log().mean())

    def fitted_values(self) -> dict[str, float]:
        return {} if self.eps is None else {"epsilon": float(self.eps)}

    def describe(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "noise": self.noise, "noise_kind": self.noise_kind, "eps": self.eps,
                "aggregation": self.aggregation, "num_samples": self.num_samples,
                "search_num_samples": self.search_num_samples, "search_method": self.search_method,
                "search_draws": self.search_draws,
                "criterion": self.criterion, "per_kind": self.per_kind, "best_loss": self.best_loss,
                "noise_stream": "SplitMix64 per sample seed, draw index t * C + k",
                "search_stream": ("the sample's seed (every candidate)" if self.search_draws == "common" else
                                  "SplitMix64 output kind * 2^32 + candidate of the sample's seed")}
