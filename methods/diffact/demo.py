"""DiffAct's demo summary: the decoder (DDIM) against its own encoder on the generated videos, one trained model.

The paper's claim is that the diffusion decoder refines the encoder's prediction; the sentence says whether these
numbers show it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.demo import DemoSummary
from bench.registry import DEMOS

RUN = "diffact_generated"
MEASURES = ("Acc", "Edit", "F1@10", "F1@25", "F1@50")


@DEMOS.register_module(name="diffact")
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """Headline decoder and encoder Acc and F1@50; the effect counts as shown only if the decoder is ahead on all
    five measures (a NaN Edit counts as not ahead)."""
    if RUN not in runs:
        raise KeyError(f"the diffact demo summary needs the run {RUN!r}, got {sorted(runs)}: run "
                       "`bench demo --only diffact`")
    run = runs[RUN]
    metrics = run["metrics"]
    gaps = [metrics[m] - metrics[f"encoder_{m}"] for m in MEASURES]
    ahead = sum(gap > 0 for gap in gaps if math.isfinite(gap))
    mean_gap = sum(gaps) / len(gaps)
    if ahead == len(MEASURES):
        verdict = "the decoder improves on its encoder on all five, as the paper reports"
    else:
        verdict = (f"the decoder is ahead on {ahead} of five (mean difference {100 * mean_gap:+.1f} points): "
                   "does not reproduce the paper's effect at this scale")
    videos = run.get("samples", {}).get("effective", "the")
    sentence = (f"On {videos} generated test videos, DiffAct's decoder vs its encoder: Acc {metrics['Acc']:.2f} vs "
                f"{metrics['encoder_Acc']:.2f}, Edit {metrics['Edit']:.2f} vs {metrics['encoder_Edit']:.2f}, F1@50 "
                f"{metrics['F1@50']:.2f} vs {metrics['encoder_F1@50']:.2f}; {verdict}.")
    return DemoSummary(headline={"decoder Acc": metrics["Acc"], "encoder Acc": metrics["encoder_Acc"],
                                 "decoder F1@50": metrics["F1@50"], "encoder F1@50": metrics["encoder_F1@50"]},
                       sentence=sentence,
                       figures=[str(Path(run["run_dir"]) / p) for p in run.get("figures", {}).values()])
