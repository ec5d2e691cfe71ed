"""The FusionSAM demo's summary: per-class IoU and mIoU of the same tiny SAM trained on RGB only, on thermal only
and on the fused image with the latent adapter (``configs/demo/fusionsam_*``; the full profile adds the fused image
without the adapter), on generated scenes whose cool classes show mainly in RGB and warm ones mainly in thermal.

The paper's claim at this scale is qualitative: fusion beats either modality alone. The sentence calls a gap a gain
only when it exceeds ``MARGIN`` (mIoU points as a fraction), a rough allowance for seed-to-seed variation of a model
trained for seconds; it is not a significance test.
"""
from __future__ import annotations

from typing import Any

from bench.demo import DemoSummary
from bench.registry import DEMOS

GROUP = "fusionsam"
VARIANTS = (("fused", "fused + adapter"), ("rgb", "RGB only"), ("thermal", "thermal only"),
            ("no_adapter", "fused, no adapter"))
MARGIN = 0.03


def _scores(run: dict[str, Any], stem: str) -> tuple[float, dict[str, float]]:
    metrics = run.get("metrics") or {}
    if "mIoU" not in metrics:
        raise ValueError(f"{GROUP} demo summary: run {stem!r} has no mIoU (metrics: {sorted(metrics)}); run "
                         f"`bench demo --only {GROUP}`")
    per_class = {key.removeprefix("IoU."): float(value) for key, value in metrics.items() if key.startswith("IoU.")}
    return float(metrics["mIoU"]), per_class


def _group_mean(per_class: dict[str, float], prefix: str) -> float | None:
    values = [value for name, value in per_class.items() if name.startswith(prefix) and value == value]
    return sum(values) / len(values) if values else None


@DEMOS.register_module(name="fusionsam")  # a literal: the entry index reads it without importing
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """mIoU of each variant, the fused model's gain over the better single modality, and where each single
    modality fails (mean IoU of the cool = RGB-visible and warm = thermal-visible classes)."""
    scores = {name: _scores(runs[f"{GROUP}_{name}"], f"{GROUP}_{name}") for name, _ in VARIANTS
              if f"{GROUP}_{name}" in runs}
    missing = [name for name in ("fused", "rgb", "thermal") if name not in scores]
    if missing:
        raise ValueError(f"{GROUP} demo summary: runs {[f'{GROUP}_{m}' for m in missing]} are missing (have "
                         f"{sorted(runs)}); run `bench demo --only {GROUP}`")
    labels = dict(VARIANTS)
    parts = []
    for name, (miou, per_class) in scores.items():
        cool, warm = _group_mean(per_class, "cool"), _group_mean(per_class, "warm")
        detail = f" (cool {cool:.2f}, warm {warm:.2f})" if cool is not None and warm is not None else ""
        parts.append(f"{labels[name]} {miou:.2f}{detail}")
    best_single = max(("rgb", "thermal"), key=lambda name: scores[name][0])
    gain = scores["fused"][0] - scores[best_single][0]
    if gain > MARGIN:
        verdict = f"fusion helps: +{gain:.2f} over the better single modality ({labels[best_single]})"
    elif gain < -MARGIN:
        verdict = f"fusion does not help here: {gain:+.2f} against {labels[best_single]}, unlike the paper's claim"
    else:
        verdict = (f"fused and {labels[best_single]} differ by {gain:+.2f}, within the ±{MARGIN:.2f} allowance, so "
                   "the paper's gain is not shown at this scale")
    sentence = f"mIoU (class IoU means in brackets) of a tiny SAM on generated RGB-thermal scenes: " \
               f"{'; '.join(parts)}: {verdict}"
    smoke = any(runs[f"{GROUP}_{name}"].get("smoke") for name in scores)
    if smoke:
        sentence += " (tiny SAM trained from scratch: a check of the mechanism, not the paper's numbers)"
    headline = {f"mIoU {labels[name]}": scores[name][0] for name in ("fused", "rgb", "thermal")}
    if "no_adapter" in scores:
        headline[f"mIoU {labels['no_adapter']}"] = scores["no_adapter"][0]
    return DemoSummary(headline=headline, sentence=sentence, figures=[])
