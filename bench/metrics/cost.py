"""Model cost from constant per-sample ``params``/``macs`` columns (the robustness task stores the attacked model's;
detection adapters such as two-in-one KD store their deployed model's), so ``bench score`` reports it too."""
from __future__ import annotations

import torch

from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns


@METRICS.register_module()
class ModelCost(Metric):
    """Parameters (millions) and multiply-accumulates per image (billions) of the evaluated model, as stored."""

    required = ("params", "macs")

    def compute(self, outputs: Columns) -> dict[str, float]:
        params, macs = torch.unique(outputs["params"]), torch.unique(outputs["macs"])
        if len(params) != 1 or len(macs) != 1:
            raise ValueError(f"ModelCost: samples disagree on the model's cost (params {params.tolist()}, "
                             f"MACs {macs.tolist()}); were they produced by different models?")
        return {"params (M)": float(params[0]) / 1e6, "GMACs per image": float(macs[0]) / 1e9}
