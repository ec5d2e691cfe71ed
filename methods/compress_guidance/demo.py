"""The Compress Guidance demo's summary: how much of full guidance's class accuracy each budget schedule keeps, at
what share of its classifier passes.

The runs are ``compress_guidance_{full,compg,uniform,early_stop,unguided}`` (same DDPM, classifier and seeds).
Accuracy is the independent digits classifier's (off-sampling). Noise is binomial: two accuracies on the same n
requests differ by noise up to about ``2 sqrt(2 p (1 - p) / n)`` (two standard errors of a difference), 0.10 at
p = 0.5 and n = 200.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.demo import DemoSummary
from bench.registry import DEMOS

GROUP = "compress_guidance"
ACCURACY = "digits_accuracy"
PASSES = "classifier backwards"
SCHEDULES = ("full", "compg", "uniform", "early_stop", "unguided")
NAMES = {"compg": "Compress Guidance", "uniform": "uniform skipping", "early_stop": "early stopping"}


def _run(runs: dict[str, dict[str, Any]], schedule: str) -> dict[str, Any]:
    stem = f"{GROUP}_{schedule}"
    if stem not in runs or ACCURACY not in runs[stem].get("metrics", {}):
        raise ValueError(f"{GROUP} demo summary: run {stem!r} with {ACCURACY!r} is missing (have {sorted(runs)}); "
                         f"run `bench demo --only {GROUP}`")
    return runs[stem]


def accuracy_noise(p: float, n: int) -> float:
    """Two standard errors of the difference of two accuracies near ``p`` on ``n`` samples each."""
    return 2 * math.sqrt(2 * max(p * (1 - p), 0.05 * 0.95) / max(n, 1))


@DEMOS.register_module(name="compress_guidance")  # a literal: the entry index reads it without importing
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """Headline accuracies (full, CompG, unguided) and CompG's share of full guidance's classifier passes; the
    sentence says whether CompG keeps full guidance's accuracy (within noise), most of its gain over no guidance,
    or not, and how the naive baselines at the same budget compare."""
    full, compg, unguided = (_run(runs, s) for s in ("full", "compg", "unguided"))
    acc = {s: float(_run(runs, s)["metrics"][ACCURACY]) for s in SCHEDULES if f"{GROUP}_{s}" in runs}
    n = int(compg.get("samples", {}).get("effective", 0)) or 1
    passes = float(compg["metrics"].get(PASSES, math.nan)) / float(full["metrics"].get(PASSES, math.nan))
    gain = acc["full"] - acc["unguided"]
    kept = (acc["compg"] - acc["unguided"]) / gain if gain > 0 else math.nan
    noise = accuracy_noise(acc["full"], n)
    if gain <= accuracy_noise(acc["unguided"], n):
        verdict = ("full guidance itself barely beats no guidance here, so the demo cannot test the paper's claim "
                   "at this scale")
    elif acc["full"] - acc["compg"] <= noise:
        verdict = "Compress Guidance matches full guidance within noise, the paper's claim"
    elif kept >= 0.5:
        verdict = ("Compress Guidance keeps most of full guidance's gain but not all of it, so the paper's claim "
                   "(matching full guidance) holds only in part at this scale")
    else:
        verdict = "the paper's claim (matching full guidance) does not reproduce at this scale"
    baselines = [f"{NAMES[s]} {100 * acc[s]:.0f}%" for s in ("uniform", "early_stop") if s in acc]
    sentence = (f"At {100 * passes:.0f}% of full guidance's classifier passes Compress Guidance reaches "
                f"{100 * acc['compg']:.0f}% class accuracy against full guidance's {100 * acc['full']:.0f}% and no "
                f"guidance's {100 * acc['unguided']:.0f}% (keeping {100 * kept:.0f}% of the gain; noise about "
                f"±{100 * noise:.0f} points at n = {n})"
                + (f", the naive baselines at the same budget {' and '.join(baselines)}" if baselines else "")
                + f": {verdict}.")
    headline = {"full guidance acc. %": 100 * acc["full"], "CompG acc. %": 100 * acc["compg"],
                "unguided acc. %": 100 * acc["unguided"], "CompG passes / full": passes}
    figures = [str(Path(r["run_dir"]) / path) for r in (full, compg) for path in r.get("figures", {}).values()
               if "run_dir" in r]
    return DemoSummary(headline=headline, sentence=sentence, figures=figures)
