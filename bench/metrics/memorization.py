"""Metrics of the text-to-image memorization papers (Wen et al. 2024, Bright Ending, AMG), one row per prompt.

Detection (:class:`MemorizationDetection`): Wen's aggregation of per-step magnitudes into one score per prompt, then
the ROC numbers of ``bench.metrics.binary_detection`` (AUC, TPR at 1% FPR, Wen's "ACC"), optionally averaged over
random subsets of the non-memorized prompts (the protocol's ≥ 5 subsets). Mitigation: the copy similarity to the
ground-truth training images or the nearest reference (:class:`CopySimilarity`, SSCD in the papers; its lower tail
scores AMG's pixel-level nL2) and the CLIP score (:class:`MeanCLIPScore`). Localization against a known memorized
region (:class:`LocalizationQuality`; the papers had only unpublished manual labels, the ground-truth demo has
exact masks).

Column shapes (rows = prompts): magnitude tracks (prompts, generations, steps); ``copy_similarity`` and
``clip_score`` (prompts, generations); maps (prompts, generations, h, w); ``gt_mask`` (prompts, H, W) 0/1.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bench.finite import require_finite
from bench.metrics.base import Metric
from bench.metrics.binary_detection import best_balanced_accuracy, binary_auc, tpr_at_fpr
from bench.registry import METRICS
from bench.store import Columns

# The BE detection table's step budgets ("First Step", "First 10 Steps", "All Steps") as [start, end) slices.
STEP_BUDGETS: dict[str, tuple[int, int | None]] = {"first_step": (0, 1), "first_10_steps": (0, 10),
                                                   "all_steps": (0, None)}


def step_slice(budget: str | Sequence[int | None]) -> tuple[int, int | None]:
    """A named budget from :data:`STEP_BUDGETS` or an explicit ``(start, end)`` (end None: to the last step)."""
    if isinstance(budget, str):
        if budget not in STEP_BUDGETS:
            raise ValueError(f"unknown step budget {budget!r}; the budgets are {', '.join(STEP_BUDGETS)} or a "
                             "(start, end) pair")
        return STEP_BUDGETS[budget]
    start, end = budget
    return int(start or 0), None if end is None else int(end)


def prompt_scores(tracks: torch.Tensor, n_gens: int, budget: str | Sequence[int | None] = "all_steps") \
        -> torch.Tensor:
    """One detection score per prompt from per-step magnitudes ``tracks`` (prompts, generations, steps) or one
    prompt's (generations, steps): mean over the budget's steps of the mean over the first ``n_gens`` generations
    (Wen's ``det_mem_viz.ipynb``), in float64.

    Unlike the official slicing, a track with fewer generations or steps than asked is an error, not a silently
    smaller average."""
    tracks = torch.as_tensor(tracks)
    single = tracks.ndim == 2
    if single:
        tracks = tracks.unsqueeze(0)
    if tracks.ndim != 3:
        raise ValueError(f"prompt_scores: tracks must be (prompts, generations, steps), got {tuple(tracks.shape)}")
    start, end = step_slice(budget)
    steps = tracks.shape[2]
    stop = steps if end is None else end
    if not 0 < n_gens <= tracks.shape[1]:
        raise ValueError(f"prompt_scores: n_gens={n_gens} but the tracks hold {tracks.shape[1]} generations per "
                         "prompt; generate at least n_gens images per prompt (method num_images)")
    if not 0 <= start < stop <= steps:
        raise ValueError(f"prompt_scores: steps {start}:{stop} are outside the {steps} recorded steps")
    scores = tracks[:, :n_gens, start:stop].double().mean(dim=1).mean(dim=1)
    return scores[0] if single else scores


def _labels(outputs: Columns, column: str) -> torch.Tensor:
    labels = torch.as_tensor(outputs[column]).long().reshape(-1)
    if not bool(((labels == 0) | (labels == 1)).all()):
        raise ValueError(f"memorization metrics need 0/1 '{column}' (1 memorized); got {labels.unique().tolist()}")
    return labels


def subset_rows(labels: torch.Tensor, subsets: int, subset_size: int | None, seed: int) -> list[torch.Tensor]:
    """Row indices of ``subsets`` evaluation sets: every memorized row plus ``subset_size`` non-memorized rows drawn
    without replacement by ``np.random.default_rng(seed + k)`` for subset k (all non-memorized rows when
    ``subset_size`` is None and ``subsets`` is 1)."""
    positives = torch.nonzero(labels == 1).flatten()
    negatives = torch.nonzero(labels == 0).flatten()
    if subset_size is None:
        if subsets != 1:
            raise ValueError(f"MemorizationDetection: subsets={subsets} needs subset_size (how many non-memorized "
                             "prompts each subset draws)")
        return [torch.arange(len(labels))]
    if not 0 < subset_size <= len(negatives):
        raise ValueError(f"MemorizationDetection: subset_size={subset_size} but only {len(negatives)} non-memorized "
                         "prompts were scored; generate more or lower subset_size")
    rows = []
    for k in range(subsets):
        drawn = np.sort(np.random.default_rng(seed + k).choice(len(negatives), subset_size, replace=False))
        rows.append(torch.cat([positives, negatives[torch.from_numpy(drawn)]]))
    return rows


@METRICS.register_module()
class MemorizationDetection(Metric):
    """One cell of the detection table: ``signal`` tracks (``text_noise_norm``: Wen; ``masked_noise_norm``: BE's m′)
    scored by :func:`prompt_scores` at ``budget`` over the first ``n_gens`` generations (None: all), then ``AUC``,
    ``TPR@1%FPR`` and ``ACC`` (Wen's best balanced accuracy) against ``label``.

    With ``subsets`` > 1 each number is the mean over that many random draws of ``subset_size`` non-memorized prompts
    (all memorized prompts every time; the protocol averages ≥ 5, Wen repo issue #1) and ``<name> std`` (ddof 1) is
    reported beside it. ``positive_kind`` keeps only the memorized prompts whose ``memorization`` column (a list of
    str: "global" / "local", known in the ground-truth demo) is that kind, against all non-memorized ones. Name the
    cell with ``prefix`` (e.g. ``"Wen all steps n=4 "``)."""

    def __init__(self, signal: str = "text_noise_norm", budget: str | Sequence[int | None] = "all_steps",
                 n_gens: int | None = 4, max_fpr: float = 0.01, subsets: int = 1, subset_size: int | None = None,
                 subset_seed: int = 0, positive_kind: str | None = None, label: str = "label",
                 prefix: str = "") -> None:
        super().__init__(prefix)
        step_slice(budget)
        if n_gens is not None and (isinstance(n_gens, bool) or not isinstance(n_gens, int) or n_gens < 1):
            raise ValueError(f"MemorizationDetection: n_gens must be a positive int (or None: every generation), got "
                             f"{n_gens!r}")
        if isinstance(subsets, bool) or not isinstance(subsets, int) or subsets < 1:
            raise ValueError(f"MemorizationDetection: subsets must be a positive int, got {subsets!r}")
        self.signal, self.budget, self.n_gens, self.max_fpr = signal, budget, n_gens, float(max_fpr)
        self.subsets, self.subset_size, self.subset_seed, self.label = subsets, subset_size, int(subset_seed), label
        self.positive_kind = positive_kind
        self.required = (signal, label) if positive_kind is None else (signal, label, "memorization")

    def compute(self, outputs: Columns) -> dict[str, float]:
        require_finite(outputs, self.signal, f"MemorizationDetection({self.signal})")
        tracks = torch.as_tensor(outputs[self.signal])
        scores = prompt_scores(tracks, tracks.shape[1] if self.n_gens is None else self.n_gens, self.budget)
        labels = _labels(outputs, self.label)
        if self.positive_kind is not None:
            kinds = list(outputs["memorization"])
            keep = torch.tensor([int(label) == 0 or kind == self.positive_kind
                                 for label, kind in zip(labels.tolist(), kinds, strict=True)])
            if not bool((labels[keep] == 1).any()):
                raise ValueError(f"MemorizationDetection: no memorized prompt of kind {self.positive_kind!r} (kinds: "
                                 f"{sorted(set(kinds))})")
            scores, labels = scores[keep], labels[keep]
        fpr_name = f"TPR@{self.max_fpr * 100:g}%FPR"
        values: dict[str, list[float]] = {"AUC": [], fpr_name: [], "ACC": []}
        for rows in subset_rows(labels, self.subsets, self.subset_size, self.subset_seed):
            target, score = labels[rows].double(), scores[rows]
            values["AUC"].append(binary_auc(target, score, "prompts"))
            values[fpr_name].append(tpr_at_fpr(target, score, self.max_fpr, "prompts"))
            values["ACC"].append(best_balanced_accuracy(target, score, "prompts"))
        out = {name: float(np.mean(v)) for name, v in values.items()}
        if self.subsets > 1:
            out.update({f"{name} std": float(np.std(v, ddof=1)) for name, v in values.items()})
        return out


@METRICS.register_module()
class CopySimilarity(Metric):
    """The memorization tail of a per-generation copy score (``column``): a similarity where high means copied
    (``tail="upper"``: SSCD cosine to the prompt's ground-truth images, Wen/BE; SSCD to the nearest reference image,
    AMG) or a distance where low means copied (``tail="lower"``: AMG's ``nearest_train_nl2``).

    Upper tail: ``mean``, ``p95`` (``np.percentile``, linear: AMG's "Top5%"), ``max`` ("Top1"), ``>t`` for each of
    ``thresholds`` and ``mean of prompt max`` (each prompt's best copy over its generations). Lower tail: ``p5``,
    ``min``, ``<t`` and ``mean of prompt min`` instead (AMG reports nL2's "Top5%" as the 5th percentile: its
    ``np.quantile(-nl2, 0.95)`` negated). ``>t`` / ``<t`` are fractions (a paper's percentage is its config's
    ``scale=100``). ``percentile`` defaults to 95 (upper) or 5 (lower).

    Rows are prompts (``column`` (prompts, generations)) or samples (a 1-D column: one generation each). Rows
    without GT images (NaN) are skipped and counted as ``prompts without GT``; ``only_label`` keeps rows with that
    label (None: all rows, e.g. a generation task's samples) and ``only_kind`` those whose ``memorization`` column
    is that kind ("global" / "local", the ground-truth demo)."""

    TAILS = ("upper", "lower")

    def __init__(self, column: str = "copy_similarity", thresholds: Sequence[float] = (0.5, 0.4),
                 percentile: float | None = None, only_label: int | None = 1, only_kind: str | None = None,
                 label: str = "label", tail: str = "upper", prefix: str = "") -> None:
        super().__init__(prefix)
        if tail not in self.TAILS:
            raise ValueError(f"CopySimilarity: tail must be 'upper' (a similarity: high = copied) or 'lower' (a "
                             f"distance such as nL2: low = copied), got {tail!r}")
        self.column, self.thresholds, self.tail = column, [float(t) for t in thresholds], tail
        self.percentile = float(percentile if percentile is not None else (95.0 if tail == "upper" else 5.0))
        self.only_label, self.only_kind, self.label = only_label, only_kind, label
        self.required = ((column,) if only_label is None else (column, label)) + \
            (("memorization",) if only_kind is not None else ())

    def compute(self, outputs: Columns) -> dict[str, float]:
        values = torch.as_tensor(outputs[self.column]).double()
        if values.ndim == 1:
            values = values.unsqueeze(1)
        keep = torch.ones(len(values), dtype=torch.bool)
        if self.only_label is not None:
            keep &= _labels(outputs, self.label) == int(self.only_label)
        if self.only_kind is not None:
            keep &= torch.tensor([kind == self.only_kind for kind in outputs["memorization"]])
        values = values[keep]
        if bool(torch.isinf(values).any()):
            raise ValueError(f"CopySimilarity: '{self.column}' holds ±inf; a similarity or an nL2 is finite")
        missing = torch.isnan(values).all(dim=1)
        values = values[~missing]
        if len(values) == 0:
            raise ValueError(f"CopySimilarity: no scored prompt has ground-truth images ('{self.column}' is NaN for "
                             f"all {int(missing.sum())}); give the prompt set gt_images/<index>/*.png")
        flat = values.flatten()
        upper = self.tail == "upper"
        extreme, per_prompt = ("max", values.max(dim=1).values) if upper else ("min", values.min(dim=1).values)
        out = {"mean": float(flat.mean()), f"p{self.percentile:g}": float(np.percentile(flat.numpy(), self.percentile)),
               extreme: float(flat.max() if upper else flat.min()),
               f"mean of prompt {extreme}": float(per_prompt.mean())}
        if upper:
            out.update({f">{t:g}": float((flat > t).double().mean()) for t in self.thresholds})
        else:
            out.update({f"<{t:g}": float((flat < t).double().mean()) for t in self.thresholds})
        out["prompts without GT"] = float(missing.sum())
        return out


@METRICS.register_module()
class MeanCLIPScore(Metric):
    """Mean CLIP score (cosine of image and prompt embeddings, not ×100: Wen/BE/PRSS) over all generations of the
    scored prompts (``only_label`` as in :class:`CopySimilarity`), named ``CLIP score``."""

    def __init__(self, column: str = "clip_score", only_label: int | None = None, label: str = "label",
                 prefix: str = "") -> None:
        super().__init__(prefix)
        self.column, self.only_label, self.label = column, only_label, label
        self.required = (column,) if only_label is None else (column, label)

    def compute(self, outputs: Columns) -> dict[str, float]:
        require_finite(outputs, self.column, "MeanCLIPScore")
        values = torch.as_tensor(outputs[self.column]).double()
        if self.only_label is not None:
            values = values[_labels(outputs, self.label) == int(self.only_label)]
        if values.numel() == 0:
            raise ValueError(f"MeanCLIPScore: no prompt with label {self.only_label}")
        return {"CLIP score": float(values.mean())}


def pixel_auroc(scores: torch.Tensor, mask: torch.Tensor) -> float:
    """ROC AUC of per-pixel ``scores`` against a 0/1 ``mask`` (Mann-Whitney U with average ranks for ties)."""
    from scipy.stats import rankdata

    s, m = scores.double().flatten().numpy(), mask.flatten().numpy().astype(bool)
    positives, negatives = int(m.sum()), int((~m).sum())
    ranks = rankdata(s)
    return float((ranks[m].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def area_iou(scores: torch.Tensor, mask: torch.Tensor) -> float:
    """IoU of the mask with the map's top-k pixels, k = the mask's area (a threshold-free IoU: BE keeps its map
    soft and publishes no binarisation); ties at the k-th value are broken by pixel order."""
    flat, m = scores.double().flatten(), mask.flatten().bool()
    k = int(m.sum())
    top = torch.zeros_like(m)
    top[torch.argsort(-flat, stable=True)[:k]] = True
    return float((top & m).sum() / (top | m).sum())


@METRICS.register_module()
class LocalizationQuality(Metric):
    """How well a per-generation map (``map_column``, (prompts, generations, h, w)) finds the known memorized region
    (``mask_column``, (prompts, H, W) 0/1, resized to h × w by area averaging and > 0.5): per-pixel ``AUROC`` and
    ``IoU@area`` (:func:`area_iou`), averaged over every generation of the prompts whose mask is partial (local
    memorization: neither empty nor full), and the number of such ``localized prompts``."""

    def __init__(self, map_column: str = "eos_map", mask_column: str = "gt_mask", prefix: str = "") -> None:
        super().__init__(prefix)
        self.map_column, self.mask_column = map_column, mask_column
        self.required = (map_column, mask_column)

    def compute(self, outputs: Columns) -> dict[str, float]:
        require_finite(outputs, self.map_column, "LocalizationQuality")
        maps, masks = torch.as_tensor(outputs[self.map_column]).double(), torch.as_tensor(outputs[self.mask_column])
        if maps.ndim != 4 or masks.ndim != 3 or len(maps) != len(masks):
            raise ValueError(f"LocalizationQuality: '{self.map_column}' must be (prompts, generations, h, w) and "
                             f"'{self.mask_column}' (prompts, H, W); got {tuple(maps.shape)} and {tuple(masks.shape)}")
        resized = F.interpolate(masks[:, None].double(), size=maps.shape[-2:], mode="area")[:, 0] > 0.5
        partial = resized.flatten(1).any(dim=1) & ~resized.flatten(1).all(dim=1)
        if not bool(partial.any()):
            raise ValueError("LocalizationQuality: no prompt has a partial ground-truth mask (local memorization) "
                             f"at the map's {maps.shape[-2]}×{maps.shape[-1]} resolution")
        aurocs, ious = [], []
        for p in torch.nonzero(partial).flatten().tolist():
            for g in range(maps.shape[1]):
                aurocs.append(pixel_auroc(maps[p, g], resized[p]))
                ious.append(area_iou(maps[p, g], resized[p]))
        return {"AUROC": float(np.mean(aurocs)), "IoU@area": float(np.mean(ious)),
                "localized prompts": float(partial.sum())}
