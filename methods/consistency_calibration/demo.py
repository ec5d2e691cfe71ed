"""The Consistency Calibration demo's summary: ECE-15 of the digits classifier before and after CC, next to the
post-hoc baselines fitted on the same validation logits (temperature scaling, histogram binning)."""
from __future__ import annotations

from bench.demo import DemoSummary, figure_paths
from bench.registry import DEMOS

PREFIX = "consistency_calibration_1_"
NAMES = {"ts": "TS", "hb": "HB"}  # config suffix -> how the summary names the baseline


@DEMOS.register_module(name="consistency_calibration")
def summarize(runs: dict[str, dict]) -> DemoSummary:
    """CC's ECE against the uncalibrated model's and the best baseline's; says whether CC beats them."""
    ece = {stem.removeprefix(PREFIX): float(run["metrics"]["ece_15"]) for stem, run in runs.items()
           if stem.startswith(PREFIX)}
    before, after = ece.pop("uncalibrated"), ece.pop("cc")
    baselines = {NAMES.get(key, key): value for key, value in sorted(ece.items())}
    best_name, best = min(baselines.items(), key=lambda item: item[1])
    helped = (f"cuts ECE-15 from {before:.2%} to {after:.2%}" if after < before
              else f"does not lower ECE-15 ({before:.2%} before, {after:.2%} after)")
    versus = (f"and beats every baseline fitted on the same val logits (best: {best_name} {best:.2%}), as the paper "
              "reports" if after < best else
              f"but {best_name} does better ({best:.2%}): the paper's edge over the baselines does not reproduce at "
              "this scale (297 val, 500 test digits)")
    return DemoSummary(
        headline={"ECE-15 uncalibrated": before, "ECE-15 CC": after,
                  **{f"ECE-15 {name}": value for name, value in list(baselines.items())[:2]}},
        sentence=f"on the digits classifier CC {helped}, {versus}",
        figures=[path for key in ("uncalibrated", "cc") for path in figure_paths(runs[PREFIX + key],
                                                                                "reliability_diagram")])
