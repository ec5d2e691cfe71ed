"""The Bright Ending demo summary on hand-made results: the sentence follows the numbers (BE better / worse / alike
on local memorization, map found or not, mitigation moving the copy similarity or not) and missing runs are named."""
from __future__ import annotations

import pytest

from bench.methods.bright_ending.demo import DETECT, MITIGATION, detection_name, summarize


def _runs(wen_local: float, be_local: float, auroc: float, copies: dict[str, float]) -> dict:
    detect = {detection_name(s, k): v for s, k, v in (("Wen", "global", 0.99), ("BE", "global", 0.97),
                                                      ("Wen", "local", wen_local), ("BE", "local", be_local))}
    detect.update({"map AUROC": auroc, "copy mean": copies["none"], "memorized typicality mean": 0.7})
    runs = {DETECT: {"metrics": detect}}
    for key, stem in MITIGATION.items():
        runs[stem] = {"metrics": {"copy mean": copies[key], "typicality mean": 0.7}}
    return runs


def test_sentence_follows_the_numbers():
    summary = summarize(_runs(0.70, 0.90, 0.85, {"none": 0.8, "wen": 0.5, "be": 0.4}))
    assert summary.headline == {"Wen AUC, local": 0.70, "BE AUC, local": 0.90, "map AUROC": 0.85,
                                "copy sim. after BE mitigation": 0.4}
    assert "detects local memorization better than Wen's magnitude (AUC 0.90 vs 0.70), the paper's claim" in \
        summary.sentence
    assert "the BE map finds the duplicated region (per-pixel AUROC 0.85" in summary.sentence
    assert "lowers the copy similarity from 0.80 to 0.50 (Wen's loss) and 0.40 (BE's masked loss)" in summary.sentence


def test_sentence_reports_absent_effects():
    summary = summarize(_runs(0.90, 0.70, 0.50, {"none": 0.40, "wen": 0.42, "be": 0.43}))
    assert "worse than Wen's magnitude (AUC 0.70 vs 0.90): the paper's claim does not reproduce here" in \
        summary.sentence
    assert "the BE map does not find the duplicated region" in summary.sentence
    assert "mitigation barely moves the copy similarity (0.40 -> 0.42 Wen, 0.43 BE)" in summary.sentence
    raised = summarize(_runs(0.9, 0.9, 0.6, {"none": 0.49, "wen": 0.55, "be": 0.56}))
    assert "mitigation raises the copy similarity instead of lowering it (0.49 -> 0.55 Wen, 0.56 BE)" in \
        raised.sentence
    alike = summarize(_runs(0.80, 0.82, 0.6, {"none": 0.8, "wen": 0.5, "be": 0.4}))
    assert "detect local memorization alike" in alike.sentence and "hints at" in alike.sentence


def test_a_missing_run_is_named():
    runs = _runs(0.7, 0.9, 0.8, {"none": 0.8, "wen": 0.5, "be": 0.4})
    del runs[MITIGATION["wen"]]
    with pytest.raises(ValueError, match=r"run 'bright_ending_mitigate_wen' lacks .*bench demo --only bright_ending"):
        summarize(runs)
