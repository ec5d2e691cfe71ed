"""The collage prompting demo's summary: standard single-image calls against 3x3 collages in random, brute-force
and GA arrangements, read by the demo's collage reader and billed by the token scheme."""
from __future__ import annotations

import math
from typing import Any

from bench.demo import DemoSummary
from bench.methods.collage_prompting.cost import cost_efficiency
from bench.registry import DEMOS

RUNS = {"standard": "collage_prompting_standard", "random": "collage_prompting_random",
        "brute_force": "collage_prompting_brute_force", "ga": "collage_prompting_ga"}


def _metric(runs: dict[str, dict[str, Any]], which: str, name: str) -> float:
    metrics = (runs.get(RUNS[which]) or {}).get("metrics") or {}
    value = metrics.get(name)
    return float(value) if isinstance(value, (int, float)) else math.nan


@DEMOS.register_module(name="collage_prompting")
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """Accuracy and cost per image of each arrangement against the standard prompt, and whether the searched
    arrangements beat the random one (computed from the runs, whichever way it came out)."""
    acc = {which: _metric(runs, which, "accuracy") for which in RUNS}
    usd = {which: _metric(runs, which, "usd_per_image") for which in RUNS}
    searched = max(acc["ga"], acc["brute_force"])
    gain = searched - acc["random"]
    ratio = usd["standard"] / usd["random"] if usd["random"] > 0 else math.nan
    efficiency = cost_efficiency(acc["ga"], usd["ga"], acc["standard"], usd["standard"])
    if math.isnan(gain):
        verdict = "a searched or random run is missing"
    elif gain > 0.005:
        verdict = (f"the predictor's arrangements beat random ones by {100 * gain:.1f} points "
                   f"(GA {100 * acc['ga']:.1f}%, brute force {100 * acc['brute_force']:.1f}%)")
    else:
        verdict = (f"the predictor's arrangements did not beat random ones (GA {100 * acc['ga']:.1f}%, brute force "
                   f"{100 * acc['brute_force']:.1f}% vs {100 * acc['random']:.1f}%)")
    top, bottom = (_metric(runs, "random", f"record_{row}_row_accuracy") for row in ("top", "bottom"))
    if abs(top - bottom) > 0.02:
        verdict += (f"; the reader's accuracy depends on the row (top {100 * top:.1f}%, bottom {100 * bottom:.1f}%), "
                    "which the predictor's grid graph cannot see (it is symmetric under flips)")
    sentence = (f"3x3 collages cost {ratio:.1f}x less per digit than one call per digit, at {100 * acc['random']:.1f}% "
                f"accuracy (random arrangement) against {100 * acc['standard']:.1f}% standard; {verdict}; GA cost-"
                f"efficiency score {efficiency:.2f} (accuracy per dollar relative to the standard prompt).")
    return DemoSummary(headline={"standard accuracy": acc["standard"], "random collage accuracy": acc["random"],
                                 "GA collage accuracy": acc["ga"], "cost ratio standard/collage": ratio},
                       sentence=sentence)
