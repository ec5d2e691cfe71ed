"""Compress Guidance's own metrics, registered in ``bench.registry.METRICS`` (found through its fallback location
``bench.methods``): the guiding classifier's on-sampling accuracy and the cost counts of guided sampling."""
from __future__ import annotations

import torch

from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns


@METRICS.register_module()
class GuideAccuracy(Metric):
    """Fraction of samples that the guiding classifier itself, at t = 0, assigns to the requested class
    (``guide_prediction``): the paper's "on-sampling" accuracy."""

    required = ("guide_prediction", "class_label")

    def compute(self, outputs: Columns) -> dict[str, float]:
        hits = torch.as_tensor(outputs["guide_prediction"]) == torch.as_tensor(outputs["class_label"])
        return {"on-sampling accuracy": float(hits.double().mean())}


@METRICS.register_module()
class SamplingCost(Metric):
    """The efficiency columns of guided sampling: per-sample means of the counted passes (``slot steps`` leaves out
    the two final steps a compress/uniform schedule always guides, as the paper counts), the wall time per sample,
    and GPU-hours extrapolated to ``per_samples`` images (only when every sample was drawn on a GPU)."""

    COUNTS = {"guided_steps": "guided steps", "classifier_backwards": "classifier backwards",
              "extra_forwards": "extra forwards", "model_forwards": "model forwards"}
    required = ("guided_steps", "model_forwards", "sampling_seconds")
    optional = ("classifier_backwards", "extra_forwards", "forced_steps", "on_gpu")

    def __init__(self, per_samples: int = 50000, prefix: str = "") -> None:
        super().__init__(prefix)
        self.per_samples = per_samples

    def compute(self, outputs: Columns) -> dict[str, float]:
        values = {name: float(torch.as_tensor(outputs[column]).double().mean())
                  for column, name in self.COUNTS.items() if column in outputs}
        if "forced_steps" in outputs:  # the paper's count: budget steps, without the two forced final steps
            forced = torch.as_tensor(outputs["forced_steps"]).double().mean()
            values["slot steps"] = values["guided steps"] - float(forced)
        seconds = torch.as_tensor(outputs["sampling_seconds"]).double()
        values["seconds per sample"] = float(seconds.mean())
        if "on_gpu" in outputs and bool(torch.as_tensor(outputs["on_gpu"]).all()):
            values["GPU-h"] = float(seconds.mean()) * self.per_samples / 3600
        return values
