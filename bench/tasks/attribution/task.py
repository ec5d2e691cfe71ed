"""The data attribution task: per query, a method scores every training sample; LDS checks those scores against
models retrained on random training subsets (:class:`bench.tasks.attribution.ground_truth.RetrainedLosses`)."""
from __future__ import annotations

from typing import Any

from bench.registry import TASKS
from bench.tasks.base import EvalTask


@TASKS.register_module(name="data_attribution")
class DataAttributionTask(EvalTask):
    """One row per query (the dataset serves the queries); the method returns ``scores`` float [N]: the attribution
    of each of the N training samples (training-set order, positive = supports the query).

    ``retrained_losses`` (the artefact's folder) and ``query_set`` (``val``, ``gen``) configure the default ``LDS``
    metric; ``match`` says how a row finds its column in the artefact: by ``sample_id`` (the artefact's
    ``queries/<set>.json``) or by the row's dataset ``index`` (an import without the reader's ids)."""

    required_outputs = ("scores",)
    finite_outputs = ("scores",)

    def __init__(self, retrained_losses: str | None = None, query_set: str | None = None, match: str = "sample_id",
                 metrics: list[dict[str, Any]] | None = None) -> None:
        if metrics is None:
            if retrained_losses is None or query_set is None:
                raise ValueError("data_attribution task: set task.retrained_losses (a RetrainedLosses folder) and "
                                 "task.query_set (e.g. 'val'), or list the metrics yourself (task.metrics)")
            metrics = [dict(type="LDS", retrained_losses=retrained_losses, query_set=query_set, match=match)]
        super().__init__(metrics)

    def describe(self) -> dict[str, Any]:
        """The ground truth each LDS metric scored against (folder, manifest hash, query set)."""
        facts = {}
        for metric in self.metrics:
            if hasattr(metric, "describe"):
                facts[self.metric_name(metric, type(metric).__name__)] = metric.describe()
        return {"ground_truth": facts} if facts else {}


@TASKS.register_module(name="lds_ground_truth")
class LDSGroundTruthTask(EvalTask):
    """A diagnostic of the LDS ground truth itself (no attribution method): one row per query, the method returns
    ``loss_mean`` and ``loss_std``, the query's retrained loss averaged over the LDS subsets and its spread across
    them; ``RetrainedLossSpread`` summarises them."""

    required_outputs = ("loss_mean", "loss_std")
    finite_outputs = ("loss_mean", "loss_std")
    default_metrics = (dict(type="RetrainedLossSpread"),)


@TASKS.register_module(name="attribution_counterfactual")
class CounterfactualTask(EvalTask):
    """Counterfactual evaluation of an attribution method (:mod:`bench.tasks.attribution.counterfactual`): one row
    per generated query, the method returns ``l2_topk`` (pixel L2 change of the query's regeneration after retraining
    without its top-k attributed training samples) and ``l2_random`` (the same without k random ones, the control);
    ``CounterfactualL2`` summarises them. With a CLIP extractor configured the method also returns ``clip_topk``
    and ``clip_random`` (cosine of the original and regenerated images' embeddings), which
    ``metrics=[dict(type="CounterfactualL2"), dict(type="CounterfactualCLIP")]`` summarises."""

    required_outputs = ("l2_topk", "l2_random")
    finite_outputs = ("l2_topk", "l2_random", "clip_topk", "clip_random")  # the clip ones when stored
    default_metrics = (dict(type="CounterfactualL2"),)
