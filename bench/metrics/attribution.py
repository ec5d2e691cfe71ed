"""The linear datamodeling score of attribution ``scores`` against retrained-model losses (D-TRAK's LDS benchmark);
the computation is :mod:`bench.tasks.attribution.lds`, the ground truth
:class:`bench.tasks.attribution.ground_truth.RetrainedLosses`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns


@METRICS.register_module()
class LDS(Metric):
    """``LDS`` (mean Spearman ρ over queries × ``scale``; 100: papers report %), ``LDS_stderr``, ``LDS_nan_queries``
    (queries whose losses or predictions do not vary over the subsets: no ρ, left out of the mean), ``LDS_queries``
    (how many rows were scored) and ``LDS_subsets`` (over how many retrained subsets each ρ is taken).

    Each row's ``scores`` [N] is matched to the artefact's query column by ``sample_id`` or by the row's dataset
    ``index`` (``match``); the losses are averaged over the training seeds (every entry must be computed)."""

    required = ("scores",)

    def __init__(self, retrained_losses: str, query_set: str, match: str = "sample_id", scale: float = 100.0,
                 prefix: str = "") -> None:
        super().__init__(prefix)
        if match not in ("sample_id", "index"):
            raise ValueError(f"LDS: match must be 'sample_id' or 'index', got {match!r}")
        self.folder, self.query_set, self.match, self.scale = Path(retrained_losses), query_set, match, float(scale)

    def _artefact(self) -> Any:
        from bench.tasks.attribution.ground_truth import RetrainedLosses

        return RetrainedLosses.open(self.folder)

    def columns_of_rows(self, outputs: Columns, artefact: Any) -> np.ndarray:
        """The artefact's query position of each row; an error naming the rows that have none."""
        num_queries = len(artefact.query_ids(self.query_set))
        if self.match == "index":
            positions = np.asarray(outputs["index"], dtype=np.int64).reshape(-1)
            unknown = [str(i) for i in positions if not 0 <= i < num_queries]
        else:
            where = {sample_id: position for position, sample_id in enumerate(artefact.query_ids(self.query_set))}
            ids = [str(i) for i in outputs["sample_id"]]
            unknown = [i for i in ids if i not in where]
            positions = np.asarray([where.get(i, -1) for i in ids], dtype=np.int64)
        if unknown:
            raise ValueError(f"LDS: {len(unknown)} query rows have no column in {self.folder} query set "
                             f"{self.query_set!r} (by {self.match}; first: {unknown[:5]}); score the queries the "
                             "retrained models were evaluated on, or set match='index' for an artefact imported "
                             "without sample ids")
        if len(set(positions.tolist())) != len(positions):
            raise ValueError(f"LDS: two rows map to one query of {self.query_set!r} (by {self.match})")
        return positions

    def compute(self, outputs: Columns) -> dict[str, float]:
        from bench.tasks.attribution.lds import linear_datamodel_score, lds_summary

        artefact = self._artefact()
        scores = outputs["scores"]
        scores = np.asarray(scores.detach().cpu().numpy() if hasattr(scores, "detach") else scores,
                            dtype=np.float64)
        masks = artefact.masks()
        if scores.ndim != 2 or scores.shape[1] != masks.shape[1]:
            raise ValueError(f"LDS: scores must be [queries, {masks.shape[1]}] (one per training sample of "
                             f"{self.folder}), got {list(scores.shape)}; the method attributed to another training "
                             "set")
        positions = self.columns_of_rows(outputs, artefact)
        losses = artefact.mean_losses(self.query_set)[:, positions]
        rho = linear_datamodel_score(scores, masks, losses)
        return {**lds_summary(rho, self.scale), "LDS_queries": float(len(rho)), "LDS_subsets": float(masks.shape[0])}

    def describe(self) -> dict[str, Any]:
        """The artefact scored against, for ``results.json``."""
        return self._artefact().describe(self.query_set)


@METRICS.register_module()
class LDSGain(LDS):
    """``LDS_gain``: this run's LDS minus the LDS of a ``reference`` run of another method on the same ground truth
    and queries (the DAS paper's "gain over D-TRAK" cells), with ``LDS`` and ``LDS_reference`` beside it.

    ``reference`` is the other method's run folder (a config's ``"upstream:<name>"`` with product ``run``); its
    ``results.json`` must record an LDS against the same artefact (manifest sha256) and query set (sample ids), or
    the difference would compare two benchmarks: that is an error naming both."""

    def __init__(self, retrained_losses: str, query_set: str, reference: str, match: str = "sample_id",
                 scale: float = 100.0, prefix: str = "") -> None:
        super().__init__(retrained_losses, query_set, match=match, scale=scale, prefix=prefix)
        self.reference = Path(reference)

    def _reference_lds(self) -> float:
        from bench.results import RESULTS_FILE, read_results

        if not (self.reference / RESULTS_FILE).is_file():
            raise FileNotFoundError(f"LDSGain: the reference run {self.reference} has no {RESULTS_FILE}; run the "
                                    "reference method's config first (an upstream with product 'run' does)")
        results = read_results(self.reference)
        recorded = ((results.get("evaluation") or {}).get("ground_truth") or {}).get("LDS")
        ours = self.describe()
        same = recorded is not None and all(recorded.get(key) == ours.get(key) for key in ("manifest_sha256",
                                                                                            "query_set"))
        if not same or "LDS" not in results.get("metrics", {}):
            raise ValueError(f"LDSGain: the reference run {self.reference} has no LDS against this ground truth "
                             f"({self.folder}, query set {self.query_set!r}): it recorded {recorded!r}; point "
                             "reference at a run of the same benchmark")
        return float(results["metrics"]["LDS"])

    def compute(self, outputs: Columns) -> dict[str, float]:
        reference = self._reference_lds()
        lds = super().compute(outputs)["LDS"]
        return {"LDS_gain": lds - reference, "LDS": lds, "LDS_reference": reference}


@METRICS.register_module()
class RetrainedLossSpread(Metric):
    """How much signal the LDS ground truth holds: over the queries, the mean of ``loss_mean`` (a query's retrained
    loss averaged over the subsets), of ``loss_std`` (its standard deviation across subsets) and of their ratio
    ``loss_relative_std``. Rank correlations across subsets can only be as good as that spread is large against the
    noise of retraining and of the loss estimate."""

    required = ("loss_mean", "loss_std")

    def compute(self, outputs: Columns) -> dict[str, float]:
        mean = np.asarray(outputs["loss_mean"], dtype=np.float64).reshape(-1)
        std = np.asarray(outputs["loss_std"], dtype=np.float64).reshape(-1)
        if len(mean) == 0:
            raise ValueError("RetrainedLossSpread: no query rows to summarise")
        return {"loss_mean": float(mean.mean()), "loss_std": float(std.mean()),
                "loss_relative_std": float((std / mean).mean())}


@METRICS.register_module()
class CounterfactualL2(Metric):
    """Counterfactual evaluation (:mod:`bench.tasks.attribution.counterfactual`): over the generated queries, the
    mean pixel L2 change of the regenerated image after removing the query's top-k attributed training samples
    (``l2_topk``), after removing k random ones (``l2_random``, the control), their ratio ``l2_topk_over_random``
    and ``topk_beats_random`` (fraction of queries whose top-k removal moved the image further than the random
    one). A method's top-k matters only as far as ``l2_topk`` exceeds ``l2_random``."""

    required = ("l2_topk", "l2_random")

    def compute(self, outputs: Columns) -> dict[str, float]:
        topk = np.asarray(outputs["l2_topk"], dtype=np.float64).reshape(-1)
        random = np.asarray(outputs["l2_random"], dtype=np.float64).reshape(-1)
        if len(topk) == 0:
            raise ValueError("CounterfactualL2: no query rows to summarise")
        return {"l2_topk": float(topk.mean()), "l2_random": float(random.mean()),
                "l2_topk_over_random": float(topk.mean() / random.mean()) if random.mean() > 0 else float("nan"),
                "topk_beats_random": float((topk > random).mean())}


@METRICS.register_module()
class CounterfactualCLIP(Metric):
    """The counterfactual evaluation's second measure (DAS paper §6): over the generated queries, the mean cosine
    of the CLIP embeddings of the original and the regenerated image after removing the query's top-k attributed
    training samples (``clip_topk``; lower = the removal changed the image more; the paper's CIFAR-2: DAS 0.71,
    D-TRAK 0.77), after removing k random ones (``clip_random``, the control), and ``topk_below_random`` (fraction
    of queries whose top-k removal moved the embedding further than the random one)."""

    required = ("clip_topk", "clip_random")

    def compute(self, outputs: Columns) -> dict[str, float]:
        topk = np.asarray(outputs["clip_topk"], dtype=np.float64).reshape(-1)
        random = np.asarray(outputs["clip_random"], dtype=np.float64).reshape(-1)
        if len(topk) == 0:
            raise ValueError("CounterfactualCLIP: no query rows to summarise")
        return {"clip_topk": float(topk.mean()), "clip_random": float(random.mean()),
                "topk_below_random": float((topk < random).mean())}
