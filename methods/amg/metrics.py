"""AMG's own metric, registered in ``bench.registry.METRICS``: how often and how much guidance acted."""
from __future__ import annotations

import torch

from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns


@METRICS.register_module()
class GuidanceActivity(Metric):
    """Per-sample means of AMG's guidance log: ``triggered`` (share of samples whose similarity ever crossed the
    trigger), ``checks`` and ``guided steps`` per sample, and ``share of steps guided`` (guided steps / model
    forwards: the fraction of sampling steps that paid for a similarity gradient and moved)."""

    required = ("guided_steps",)
    optional = ("amg_trigger_step", "amg_checks", "model_forwards")

    def compute(self, outputs: Columns) -> dict[str, float]:
        guided = torch.as_tensor(outputs["guided_steps"]).double()
        values = {"guided steps": float(guided.mean())}
        if "amg_trigger_step" in outputs:
            values["triggered"] = float((torch.as_tensor(outputs["amg_trigger_step"]) >= 0).double().mean())
        if "amg_checks" in outputs:
            values["checks"] = float(torch.as_tensor(outputs["amg_checks"]).double().mean())
        if "model_forwards" in outputs:
            values["share of steps guided"] = float((guided / torch.as_tensor(outputs["model_forwards"]).double())
                                                    .mean())
        return values
