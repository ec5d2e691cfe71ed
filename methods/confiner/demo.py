"""The ConFiner demo's summary: on three tiny experts trained on moving digits, does the chain beat each expert alone?

Runs (``configs/demo/confiner_*.py``, ``--full`` in ``configs/demo/full/``): each expert alone
(``confiner_1_control``: the briefly trained video toy at 4 steps; ``confiner_1_spatial``: the frame DDPM, frames
sampled independently; ``confiner_1_temporal``: the longer-trained video toy) and ConFiner's three refinement modes on
the control expert's structure (``confiner_2_spatial`` / ``_temporal`` / ``_coordinated``), at equal or lower NFE,
and coordinated refinement re-noised only to T_e = 20 (``confiner_2_coordinated_te20``).
Per run the video task's means: ``frame_quality`` (digits-classifier confidence on each frame's digit crop),
``subject_consistency`` (VBench's formula on the digit crop's classifier features), ``flow_smoothness`` (Farneback)
and ``motion_smoothness`` (VBench's formula, frame averaging for AMT-S). Differences under ``CLOSE`` are called a tie:
in the full profile's runs (2026-12-06) the per-video standard deviation over the 10 videos was 0.07-0.18 for frame
quality and subject consistency (0.09-0.25 for flow smoothness), so a mean's standard error is about 0.05.
"""
from __future__ import annotations

from typing import Any

from bench.demo import DemoSummary, figure_paths
from bench.registry import DEMOS

GROUP = "confiner"
SINGLE = {"control": f"{GROUP}_1_control", "spatial": f"{GROUP}_1_spatial", "temporal": f"{GROUP}_1_temporal"}
MODES = {"spatial": f"{GROUP}_2_spatial", "temporal": f"{GROUP}_2_temporal", "coordinated": f"{GROUP}_2_coordinated"}
LOW_TE = f"{GROUP}_2_coordinated_te20"  # coordinated from T_e = 20 instead of the paper's 100
MEASURES = {"frame_quality": "frame quality", "subject_consistency": "subject consistency",
            "flow_smoothness": "flow smoothness"}
NFE = "NFE per video"
CLOSE = 0.05


def _metric(runs: dict[str, dict[str, Any]], stem: str, name: str) -> float:
    if stem not in runs:
        raise ValueError(f"{GROUP} demo summary: run {stem!r} is missing (have {sorted(runs)}); run "
                         f"`bench demo --only {GROUP}`")
    metrics = runs[stem].get("metrics", {})
    if name not in metrics:
        raise ValueError(f"{GROUP} demo summary: run {stem!r} lacks {name!r} (has {sorted(metrics)}); run "
                         f"`bench demo --only {GROUP}`")
    return float(metrics[name])


def compare(value: float, best: float) -> str:
    """'beats', 'ties' or 'does not beat' ``best`` (ties within :data:`CLOSE`)."""
    if abs(value - best) < CLOSE:
        return "ties"
    return "beats" if value > best else "does not beat"


@DEMOS.register_module(name="confiner")  # a literal: the entry index reads it without importing
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """Frame quality and temporal consistency of each expert alone and of the three refinement modes, and whether
    coordinated refinement beats the best single expert on each."""
    single = {role: {m: _metric(runs, stem, m) for m in MEASURES} for role, stem in SINGLE.items()}
    chain = {mode: {m: _metric(runs, stem, m) for m in MEASURES} for mode, stem in MODES.items()}
    low_te = {m: _metric(runs, LOW_TE, m) for m in MEASURES}
    nfe = {name: _metric(runs, stem, NFE) for name, stem in {**SINGLE, **{f"ConFiner {k}": v for k, v in
                                                                         MODES.items()}}.items()}
    coordinated = chain["coordinated"]
    verdicts = []
    for measure, label in MEASURES.items():
        role = max(single, key=lambda r: single[r][measure])
        verdicts.append(f"{compare(coordinated[measure], single[role][measure])} the best single expert on {label} "
                        f"({coordinated[measure]:.2f} vs the {role} expert's {single[role][measure]:.2f}; from "
                        f"T_e = 20 {compare(low_te[measure], single[role][measure])}: {low_te[measure]:.2f})")

    def row(values: dict[str, float]) -> str:
        return " / ".join(f"{values[m]:.2f}" for m in MEASURES)

    sentence = (f"Frame quality / subject consistency / flow smoothness: control alone (4 steps) "
                f"{row(single['control'])}, spatial alone {row(single['spatial'])}, temporal alone "
                f"{row(single['temporal'])} (NFE {nfe['control']:.0f} / {nfe['spatial']:.0f} / {nfe['temporal']:.0f}); "
                f"ConFiner 4 + 5 steps, spatial {row(chain['spatial'])}, temporal {row(chain['temporal'])}, "
                f"coordinated {row(coordinated)} (NFE {nfe['ConFiner spatial']:.0f} / {nfe['ConFiner temporal']:.0f}"
                f" / {nfe['ConFiner coordinated']:.0f}). Coordinated refinement (T_e = 100) "
                + "; ".join(verdicts) + ". Tiny experts trained here on moving digits, scored with the harness's "
                "digits classifier (not VBench's networks): a demo of the chain's mechanics, not of the paper's "
                "numbers.")
    best_quality = max(single, key=lambda r: single[r]["frame_quality"])
    best_consistency = max(single, key=lambda r: single[r]["subject_consistency"])
    headline = {"frame quality, coordinated": coordinated["frame_quality"],
                f"frame quality, {best_quality} alone": single[best_quality]["frame_quality"],
                "subject consistency, coordinated": coordinated["subject_consistency"],
                f"subject consistency, {best_consistency} alone": single[best_consistency]["subject_consistency"]}
    figures = [path for stem in (MODES["coordinated"], SINGLE["temporal"]) if stem in runs
               for path in figure_paths(runs[stem])]
    return DemoSummary(headline=headline, sentence=sentence, figures=figures)
