"""The DPMs-ANT demo's summary: a DDPM of plain digits transferred to inverted digits (1 − x) from 10 images, the rows
of the paper's Fig. 4 ablation compared by a digits FID-style score against the whole target domain (lower: closer
to it) and by an intra-cluster diversity in the spirit of Intra-LPIPS (the digits classifier's features as the
distance; higher: more diverse around the 10 training images).

Quick profile (``configs/demo/dpms_ant_*``): ``adaptor_only`` and ``ant`` (J = 3, 30 iterations; the domain
classifier is trained as their upstream, not scored). Full profile (``configs/demo/full/dpms_ant_*``): also the
classifier's accuracy, ``source`` (no transfer), ``full_finetune`` and ``ant_no_an``, at 150 iterations with J = 10.
The paper's claim (Fig. 4, qualitative, rubric): FID adaptor-only > full fine-tuning > ANT without AN > ANT, and ANT
keeps diversity (Table 1's Intra-LPIPS).
"""
from __future__ import annotations

from typing import Any

from bench.demo import DemoSummary
from bench.registry import DEMOS

GROUP = "dpms_ant"
ROWS = (("source", "no transfer"), ("adaptor_only", "adaptor only"), ("full_finetune", "full fine-tuning"),
        ("ant_no_an", "ANT w/o AN"), ("ant", "ANT"))
PAPER_ORDER = ("adaptor_only", "full_finetune", "ant_no_an", "ant")  # FID from worst to best (Fig. 4)
FID, DIVERSITY = "digits_FID", "digits_intra-cluster feature distance"


def _row(runs: dict[str, dict[str, Any]], name: str) -> tuple[float, float] | None:
    run = runs.get(f"{GROUP}_1_{name}")
    if run is None:
        return None
    metrics = run.get("metrics", {})
    missing = [k for k in (FID, DIVERSITY) if metrics.get(k) is None]
    if missing:
        raise ValueError(f"{GROUP} demo summary: run {GROUP}_1_{name} lacks {missing}; rerun `bench demo --only "
                         f"{GROUP}`")
    return float(metrics[FID]), float(metrics[DIVERSITY])


@DEMOS.register_module(name="dpms_ant")  # a literal: the entry index reads it without importing
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """Each row's FID-style score and diversity, which row lands closest to the target domain, whether the
    paper's Fig. 4 ordering holds among the rows that ran, and the domain classifier's accuracy."""
    rows = {name: scores for name, _ in ROWS if (scores := _row(runs, name)) is not None}
    if "adaptor_only" not in rows or "ant" not in rows:
        raise ValueError(f"{GROUP} demo summary needs the adaptor_only and ant runs, have {sorted(runs)}; run "
                         f"`bench demo --only {GROUP}`")
    labels = dict(ROWS)
    listing = ", ".join(f"{labels[name]} {fid:.2f} / {diversity:.2f}" for name, (fid, diversity) in rows.items())
    best = min(rows, key=lambda name: rows[name][0])
    ran = [name for name in PAPER_ORDER if name in rows]
    fids = [rows[name][0] for name in ran]
    ordered = all(a > b for a, b in zip(fids, fids[1:], strict=False))
    verdict = ("the paper's Fig. 4 ordering holds" if ordered else
               "the paper's Fig. 4 ordering (FID adaptor-only > full fine-tuning > ANT w/o AN > ANT) does not hold "
               "at this scale")
    sentence = (f"Plain digits -> inverted digits from 10 images, digits FID-style score (lower = closer to the "
                f"target domain) / intra-cluster feature diversity (higher = more diverse): {listing}; closest to "
                f"the target: {labels[best]}; {verdict}.")
    if "source" in rows:
        moved = [labels[name] for name in ran if rows[name][0] < rows["source"][0]]
        sentence += f" Rows that moved toward the target from the untransferred source: {', '.join(moved) or 'none'}."
    classifier = runs.get(f"{GROUP}_0_classifier", {}).get("metrics", {})
    if "accuracy" in classifier:
        sentence += (f" The domain classifier tells noised plain from inverted digits with accuracy "
                     f"{float(classifier['accuracy']):.2f} over seeded noise levels.")
    headline = {"FID adaptor only": rows["adaptor_only"][0], "FID ANT": rows["ant"][0],
                "diversity adaptor only": rows["adaptor_only"][1], "diversity ANT": rows["ant"][1]}
    return DemoSummary(headline=headline, sentence=sentence, figures=[])
