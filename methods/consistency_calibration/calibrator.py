"""The post-hoc calibrator interface: fit on validation logits, then map test logits to calibrated outputs."""
from __future__ import annotations

from typing import Any

import torch

from bench.registry import BenchRegistry

CALIBRATORS = BenchRegistry("calibrator", scope="bench", locations=["bench.methods.consistency_calibration"])


class Calibrator:
    """Fit on (logits, labels) of a held-out set; ``calibrate`` returns ``output`` ("logits" or "probs").

    ``seeds`` are the per-sample seeds of the harness (one int64 per sample); only Monte-Carlo calibrators
    use them, so their output for a sample never depends on which other samples share its batch.
    """

    output: str = "probs"

    def fit(self, logits: torch.Tensor, labels: torch.Tensor, seeds: torch.Tensor | None = None) -> Calibrator:
        return self

    def calibrate(self, logits: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def fitted_values(self) -> dict[str, float]:
        """The fitted scalars reported next to the metrics (e.g. ``temperature``, ``epsilon``)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Settings and fitted state for provenance (JSON-serialisable)."""
        return {"type": type(self).__name__, **self.fitted_values()}


def default_seeds(n: int, base_seed: int = 0) -> torch.Tensor:
    """Per-sample seeds for direct library use, from the harness rule with sample ids ``"0" .. str(n - 1)``."""
    from bench.seeding import sample_seed

    return torch.tensor([sample_seed(base_seed, str(i)) for i in range(n)], dtype=torch.int64)
