"""The Bright Ending demo's summary: on a tiny text-to-image model trained on digits with planted global and local
memorization (``datasets/memorization_digits.py``), what the paper claims measured against ground truth it never had.

Runs: ``bright_ending_detect`` (all prompts: detection AUC of Wen's magnitude and BE's m′ per kind of memorization,
the BE map's per-pixel AUROC against the known duplicated region, and the memorized prompts' pixel correlation to
their duplicated training images without mitigation) and ``bright_ending_mitigate_{wen,be}`` (the memorized prompts
with the same seeds under Wen's prompt-embedding optimisation and under BE's masked loss: the same correlation, and
the one to the nearest ordinary training digit as the quality cost).

Noise: with 8 memorized prompts of a kind against 40 others an AUC moves by 1/320 per swapped pair; AUCs closer
than about 0.05 are not told apart. A map AUROC of 0.5 is chance.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.demo import DemoSummary
from bench.registry import DEMOS

GROUP = "bright_ending"
DETECT = f"{GROUP}_detect"
MITIGATION = {"wen": f"{GROUP}_mitigate_wen", "be": f"{GROUP}_mitigate_be"}  # the baseline: the detect run
BUDGET = "all_steps"
CLOSE = 0.05  # AUCs (and similarities) closer than this are not told apart at the demo's size


def _metrics(runs: dict[str, dict[str, Any]], stem: str, names: list[str]) -> dict[str, float]:
    run = runs.get(stem)
    missing = [n for n in names if run is None or n not in run.get("metrics", {})]
    if missing:
        raise ValueError(f"{GROUP} demo summary: run {stem!r} lacks {missing} (have {sorted(runs)}); run "
                         f"`bench demo --only {GROUP}`")
    return {n: float(run["metrics"][n]) for n in names}


def detection_name(signal: str, kind: str, budget: str = BUDGET) -> str:
    """The detect run's metric name for ``signal`` ("Wen" / "BE") on memorized prompts of ``kind``."""
    return f"{signal} {kind} {budget} AUC"


@DEMOS.register_module(name="bright_ending")  # a literal: the entry index reads it without importing
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """Headline: Wen's and BE's detection AUC on local memorization, the map's localization AUROC, and the copy
    similarity before / after BE-masked mitigation; the sentence says which of the paper's claims show here."""
    names = [detection_name(s, k) for s in ("Wen", "BE") for k in ("global", "local")] + ["map AUROC"]
    detect = _metrics(runs, DETECT, names)
    wanted = ["global copy mean", "local copy mean", "memorized typicality mean"]
    copy = {key: _metrics(runs, stem, wanted) for key, stem in MITIGATION.items()}
    copy["none"] = _metrics(runs, DETECT, wanted)
    wen_local, be_local = detect[detection_name("Wen", "local")], detect[detection_name("BE", "local")]
    wen_global = detect[detection_name("Wen", "global")]
    if be_local - wen_local > CLOSE:
        detection = f"BE's m′ detects local memorization better than Wen's magnitude (AUC {be_local:.2f} vs " \
                    f"{wen_local:.2f}), the paper's claim"
    elif wen_local - be_local > CLOSE:
        detection = f"BE's m′ detects local memorization worse than Wen's magnitude (AUC {be_local:.2f} vs " \
                    f"{wen_local:.2f}): the paper's claim does not reproduce here"
    else:
        detection = f"BE's m′ and Wen's magnitude detect local memorization alike (AUC {be_local:.2f} vs " \
                    f"{wen_local:.2f}), so the paper's detection gain does not show at this scale"
    auroc = detect["map AUROC"]
    where = "finds" if auroc >= 0.75 else ("hints at" if auroc > 0.55 else "does not find")
    local = {k: copy[k]["local copy mean"] for k in copy}
    glob = {k: copy[k]["global copy mean"] for k in copy}
    typical = {k: copy[k]["memorized typicality mean"] for k in copy}
    if local["be"] < local["wen"] - CLOSE and local["be"] < local["none"] - CLOSE:
        claim = "BE's masked loss removes more of the local copy than Wen's, the paper's claim"
    elif local["none"] - min(local["wen"], local["be"]) <= CLOSE:
        claim = "neither loss removes the local copy, so the paper's mitigation effect does not show here"
    else:
        claim = "BE's masked loss does not remove more of the local copy than Wen's: the paper's gain does not show"
    mitigation = (f"mitigation moves the copy inside the motif from {local['none']:.2f} to {local['wen']:.2f} (Wen's "
                  f"loss) and {local['be']:.2f} (BE's masked loss) and the global copy from {glob['none']:.2f} to "
                  f"{glob['wen']:.2f} / {glob['be']:.2f}, at a typicality of {typical['wen']:.2f} / "
                  f"{typical['be']:.2f} against {typical['none']:.2f}: {claim}")
    sentence = (f"With memorization planted and known, Wen's magnitude separates global memorization at AUC "
                f"{wen_global:.2f}; {detection}; the BE map {where} the duplicated region (per-pixel AUROC "
                f"{auroc:.2f}, 0.5 is chance); {mitigation}.")
    headline = {"Wen AUC, local": wen_local, "BE AUC, local": be_local, "map AUROC": auroc,
                "local copy after BE mitigation": local["be"]}
    figures = [str(Path(r["run_dir"]) / path) for stem in (DETECT, MITIGATION["be"]) if (r := runs.get(stem))
               and "run_dir" in r for path in r.get("figures", {}).values()]
    if any(math.isnan(v) for v in headline.values()):
        sentence += " (a NaN headline number: see the runs' results.json)"
    return DemoSummary(headline=headline, sentence=sentence, figures=figures)
