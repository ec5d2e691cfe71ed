"""The ``collage_recognition`` task: recognition through a (remote) model, with money as a metric.

Each sample is a group of g*g images; the method (``CollagePrompting``) stores per image ``target``, ``prediction``
(-1 where the answer named nothing usable), ``correct`` and ``parsed``, and per group the calls made, their tokens
and dollars. ``max_usd`` caps what new (uncached) calls may spend in one session: the call that would pass it is not
made, :class:`~.recognizers.BudgetReached` stops the run, the samples of earlier batches are in the store and every
answer received is in the answer cache, so ``--resume`` continues without paying for any of them again.

Metrics (``CollageRecognition``): ``accuracy`` (fraction of images named correctly; unparsed count as wrong),
``unparsed_fraction``, ``usd_per_image``, ``tokens_per_image`` (prompt + completion), ``image_tokens_per_image``,
``calls_per_image``, ``usage_reported_fraction`` (calls whose text tokens the provider reported; the rest are
estimated) and ``accuracy_per_usd`` (omitted when nothing was billed). ``CostEfficiency`` adds the v1
cost-efficiency score against a standard-prompt run's accuracy and cost (:func:`.cost.cost_efficiency`). The v2
CER / PCE have no published formula: no metric claims them.

Registered here rather than in ``bench.tasks`` (core never imports a paper).
"""
from __future__ import annotations

import math
from typing import Any

import torch

from bench.metrics.base import Metric
from bench.methods.collage_prompting.cost import cost_efficiency
from bench.methods.collage_prompting.recognizers import UsdBudget
from bench.registry import METRICS, TASKS
from bench.store import Columns
from bench.tasks.base import EvalTask


@METRICS.register_module()
class CollageRecognition(Metric):
    """Accuracy and cost per image of collage (or standard) recognition (names in the module docstring)."""

    required = ("correct", "parsed", "calls", "usd", "image_tokens", "prompt_tokens", "completion_tokens")
    optional = ("usage_reported",)

    def compute(self, outputs: Columns) -> dict[str, float]:
        correct = torch.as_tensor(outputs["correct"]).double()
        images = correct.numel()
        if images == 0:
            raise ValueError("CollageRecognition: no images were stored")
        calls = float(torch.as_tensor(outputs["calls"]).double().sum())
        usd = float(torch.as_tensor(outputs["usd"]).double().sum())
        tokens = float(torch.as_tensor(outputs["prompt_tokens"]).double().sum()
                       + torch.as_tensor(outputs["completion_tokens"]).double().sum())
        accuracy = float(correct.mean())
        values = {"accuracy": accuracy,
                  "unparsed_fraction": float((~torch.as_tensor(outputs["parsed"]).bool()).double().mean()),
                  "usd_per_image": usd / images, "tokens_per_image": tokens / images,
                  "image_tokens_per_image": float(torch.as_tensor(outputs["image_tokens"]).double().sum()) / images,
                  "calls_per_image": calls / images}
        if "usage_reported" in outputs and calls > 0:
            values["usage_reported_fraction"] = float(torch.as_tensor(outputs["usage_reported"]).double().sum()) / calls
        if usd > 0:
            values["accuracy_per_usd"] = accuracy / (usd / images)
        return values


@METRICS.register_module()
class CostEfficiency(Metric):
    """The v1 cost-efficiency score of this run against a standard-prompt run (``standard_accuracy``,
    ``standard_usd_per_image``, e.g. from that run's results): ``(acc / usd) / (acc_std / usd_std)``."""

    required = ("correct", "usd")

    def __init__(self, standard_accuracy: float, standard_usd_per_image: float, prefix: str = "") -> None:
        super().__init__(prefix)
        if not (0 < float(standard_accuracy) <= 1) or not float(standard_usd_per_image) > 0:
            raise ValueError("CostEfficiency needs standard_accuracy in (0, 1] and standard_usd_per_image > 0 (the "
                             f"standard-prompt run's numbers), got {standard_accuracy!r}, {standard_usd_per_image!r}")
        self.standard_accuracy, self.standard_usd = float(standard_accuracy), float(standard_usd_per_image)

    def compute(self, outputs: Columns) -> dict[str, float]:
        correct = torch.as_tensor(outputs["correct"]).double()
        usd = float(torch.as_tensor(outputs["usd"]).double().sum()) / max(correct.numel(), 1)
        score = cost_efficiency(float(correct.mean()), usd, self.standard_accuracy, self.standard_usd)
        if math.isnan(score):
            raise ValueError("CostEfficiency: this run billed nothing (usd 0); set the recognizer's pricing")
        return {"cost_efficiency": score}


@TASKS.register_module(name="collage_recognition")
class CollageRecognitionTask(EvalTask):
    """Groups of images recognised through a recognizer, scored for accuracy and cost (module docstring).

    Args:
        metrics: metric specs (default ``[dict(type="CollageRecognition")]``).
        max_usd: the most new calls may spend in one session (None: no cap); see the module docstring.
    """

    required_outputs = ("target", "prediction", "correct", "parsed", "calls", "usd", "image_tokens", "prompt_tokens",
                        "completion_tokens")
    finite_outputs = ("usd",)
    default_metrics: tuple[dict[str, Any], ...] = ({"type": "CollageRecognition"},)

    def __init__(self, metrics: list[dict[str, Any]] | None = None, max_usd: float | None = None) -> None:
        super().__init__(metrics)
        self.budget = UsdBudget(max_usd)

    def predict(self, method: Any, batch: dict[str, Any], seeds: Any) -> Columns:
        recognize = getattr(method, "recognize_batch", None)
        if recognize is None:
            raise ValueError(f"task collage_recognition needs a method with recognize_batch (CollagePrompting), got "
                             f"{type(method).__name__}")
        return recognize(batch, seeds, self.budget)

    def describe(self) -> dict[str, Any]:
        return {"max_usd": self.budget.max_usd, "new_calls_this_session": self.budget.calls,
                "usd_spent_this_session": round(self.budget.spent, 6),
                "not_computed": "CER and PCE (v2 metrics): no formula is published"}
