"""The video-memorization demo's summary: on a tiny text-to-video model trained on moving digits with planted content
and motion memorization, whether the re-implemented signals tell the two kinds apart.

Runs ``vdm_memorization_digits`` and ``vdm_memorization_digits_motion_baseline`` (``configs/demo/``: the quick
profile's frames-as-channels toy; ``configs/demo/full/``: the UNet3D toy): per prompt two videos; detection AUC of
the content and motion magnitudes for each kind of planted prompt against the class prompts, and the mean GSSCD
(content) and OFS-k (motion) of each kind's videos to their ground-truth clips, against the baseline of the class
prompts' videos scored against a copied-clip prompt's clip (GSSCD, first run) or a copied-motion prompt's
trajectory clips (OFS-k, second run). With 4 planted prompts of a kind against 10 others an AUC moves by 1/40 per
swapped pair: AUCs closer than about 0.1 are not told apart, nor similarities closer than 0.05.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.demo import DemoSummary
from bench.registry import DEMOS

GROUP = "vdm_memorization"
RUN = f"{GROUP}_digits"
MOTION_BASELINE_RUN = f"{GROUP}_digits_motion_baseline"
CLOSE_AUC, CLOSE_SIMILARITY = 0.1, 0.05


def _metric(runs: dict[str, dict[str, Any]], stem: str, name: str) -> float:
    if stem not in runs:
        raise ValueError(f"{GROUP} demo summary: run {stem!r} is missing (have {sorted(runs)}); run "
                         f"`bench demo --only {GROUP}` (or with --full)")
    if name not in runs[stem].get("metrics", {}):
        raise ValueError(f"{GROUP} demo summary: run {stem!r} lacks {name!r}; run `bench demo --only {GROUP}` (or "
                         "with --full)")
    return float(runs[stem]["metrics"][name])


@DEMOS.register_module(name="vdm_memorization")  # a literal: the entry index reads it without importing
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """Detection AUCs of the two magnitudes per kind, and whether each similarity singles out its own kind."""
    auc = {(signal, kind): _metric(runs, RUN, f"{signal} magnitude {kind} AUC")
           for signal in ("content", "motion") for kind in ("content", "motion")}
    similarity = {(measure, kind): _metric(runs, RUN, f"{measure} on {kind} mean")
                  for measure in ("content", "motion") for kind in ("content", "motion")}
    similarity["content", "none"] = _metric(runs, RUN, "content on none mean")
    similarity["motion", "none"] = _metric(runs, MOTION_BASELINE_RUN, "motion on none mean")
    run = runs[RUN]

    def singles_out(measure: str, own: str) -> str:
        gap = similarity[measure, own] - similarity[measure, "none"]
        return "singles out" if gap > CLOSE_SIMILARITY else "does not single out"

    detection = ("the magnitudes detect both kinds" if min(auc.values()) >= 0.5 + CLOSE_AUC
                 else "the magnitudes do not detect every kind above chance")
    sentence = (f"Content magnitude AUC {auc['content', 'content']:.2f} on copied-clip prompts and "
                f"{auc['content', 'motion']:.2f} on copied-motion prompts, motion magnitude "
                f"{auc['motion', 'content']:.2f} / {auc['motion', 'motion']:.2f} ({detection}); GSSCD to the GT clip "
                f"{similarity['content', 'content']:.2f} for copied-clip prompts vs {similarity['content', 'none']:.2f}"
                f" for class prompts against a copied clip ({singles_out('content', 'content')} content "
                f"memorization), OFS-k {similarity['motion', 'motion']:.2f} for copied-motion prompts vs "
                f"{similarity['motion', 'none']:.2f} for class prompts against a copied trajectory "
                f"({singles_out('motion', 'motion')} motion memorization; "
                f"{similarity['motion', 'content']:.2f} for copied-clip prompts, whose clips move too). "
                "Re-implementation on a toy: the paper publishes no formulas or numbers to compare with.")
    headline = {"GSSCD clip prompts": similarity["content", "content"], "GSSCD baseline": similarity["content", "none"],
                "OFS-k motion prompts": similarity["motion", "motion"], "OFS-k baseline": similarity["motion", "none"]}
    figures = [str(Path(run["run_dir"]) / path) for path in run.get("figures", {}).values() if "run_dir" in run]
    return DemoSummary(headline=headline, sentence=sentence, figures=figures)
