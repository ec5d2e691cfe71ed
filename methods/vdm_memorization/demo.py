"""The video-memorization demo's summary: on a tiny text-to-video model trained on moving digits with planted content
and motion memorization, whether the re-implemented signals tell the two kinds apart.

Run ``vdm_memorization_digits`` (``configs/demo/``): per prompt two videos; detection AUC of the content and motion
magnitudes for each kind of planted prompt against the class prompts, and the mean GSSCD (content) and OFS-k
(motion) of each kind's videos to their ground-truth clips. With 4 planted prompts of a kind against 10 others an
AUC moves by 1/40 per swapped pair: AUCs closer than about 0.1 are not told apart, nor similarities closer than 0.05.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.demo import DemoSummary
from bench.registry import DEMOS

GROUP = "vdm_memorization"
RUN = f"{GROUP}_digits"
CLOSE_AUC, CLOSE_SIMILARITY = 0.1, 0.05


def _metric(run: dict[str, Any], name: str) -> float:
    if name not in run.get("metrics", {}):
        raise ValueError(f"{GROUP} demo summary: run {RUN!r} lacks {name!r}; run `bench demo --only {GROUP}`")
    return float(run["metrics"][name])


@DEMOS.register_module(name="vdm_memorization")  # a literal: the entry index reads it without importing
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """Detection AUCs of the two magnitudes per kind, and whether each similarity singles out its own kind."""
    if RUN not in runs:
        raise ValueError(f"{GROUP} demo summary: run {RUN!r} is missing (have {sorted(runs)}); run "
                         f"`bench demo --only {GROUP}`")
    run = runs[RUN]
    auc = {(signal, kind): _metric(run, f"{signal} magnitude {kind} AUC")
           for signal in ("content", "motion") for kind in ("content", "motion")}
    similarity = {(measure, kind): _metric(run, f"{measure} on {kind} mean")
                  for measure in ("content", "motion") for kind in ("content", "motion")}

    def singles_out(measure: str, own: str, other: str) -> str:
        gap = similarity[measure, own] - similarity[measure, other]
        return "singles out" if gap > CLOSE_SIMILARITY else "does not single out"

    detection = ("the magnitudes detect both kinds" if min(auc.values()) >= 0.5 + CLOSE_AUC
                 else "the magnitudes do not detect every kind above chance")
    sentence = (f"Content magnitude AUC {auc['content', 'content']:.2f} on copied-clip prompts and "
                f"{auc['content', 'motion']:.2f} on copied-motion prompts, motion magnitude "
                f"{auc['motion', 'content']:.2f} / {auc['motion', 'motion']:.2f} ({detection}); GSSCD to the GT clips "
                f"{similarity['content', 'content']:.2f} for copied clips vs {similarity['content', 'motion']:.2f} for "
                f"copied motions ({singles_out('content', 'content', 'motion')} content memorization), OFS-k "
                f"{similarity['motion', 'motion']:.2f} vs {similarity['motion', 'content']:.2f} "
                f"({singles_out('motion', 'motion', 'content')} motion memorization). Re-implementation: the paper "
                "publishes no formulas or numbers to compare with.")
    headline = {"content-mag AUC (clip)": auc["content", "content"], "motion-mag AUC (motion)": auc["motion", "motion"],
                "GSSCD clip prompts": similarity["content", "content"],
                "OFS-k motion prompts": similarity["motion", "motion"]}
    figures = [str(Path(run["run_dir"]) / path) for path in run.get("figures", {}).values() if "run_dir" in run]
    return DemoSummary(headline=headline, sentence=sentence, figures=figures)
