"""The Trident demo's summary: the splice-then-segment pipeline with SAM refinement ran end to end; with tiny
randomly initialised encoders (no foundation weights here) its scores are a smoke check, not the paper's result."""
from __future__ import annotations

from bench.demo import DemoSummary, figure_paths
from bench.registry import DEMOS


@DEMOS.register_module(name="trident")
def summarize(runs: dict[str, dict]) -> DemoSummary:
    """mIoU and pixel accuracy on the generated scenes, labelled a smoke check when the run is smoke."""
    run = runs["trident_generated_scenes"]
    metrics, images = run["metrics"], run["samples"]["effective"]
    miou, aacc = float(metrics["mIoU"]), float(metrics["aAcc"])
    if run.get("smoke"):
        sentence = (f"Trident's splice-then-segment pipeline with SAM refinement runs end "
                    f"to end on {images} generated scenes, but with {run.get('smoke_reason') or 'smoke settings'} its "
                    f"mIoU {miou:.1%} is a smoke check of the code path, not the paper's effect")
    else:
        sentence = f"Trident segments {images} generated scenes with mIoU {miou:.1%} and pixel accuracy {aacc:.1%}"
    return DemoSummary(headline={"mIoU": miou, "aAcc": aacc}, sentence=sentence, figures=figure_paths(run))
