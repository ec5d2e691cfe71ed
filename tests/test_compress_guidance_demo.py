"""The Compress Guidance demo summary: accuracies, CompG's share of classifier passes, and the computed verdict."""
from __future__ import annotations

import pytest

from bench.methods.compress_guidance.demo import accuracy_noise, summarize
from bench.registry import DEMOS

PASSES = {"full": 50, "compg": 11, "uniform": 12, "early_stop": 10, "unguided": 0}


def _runs(acc: dict[str, float], n: int = 200) -> dict[str, dict]:
    return {f"compress_guidance_{s}": {"metrics": {"digits_accuracy": a, "classifier backwards": PASSES[s]},
                                       "samples": {"effective": n}, "run_dir": f"/r/{s}",
                                       "figures": {"sample_grid": "figures/sample_grid.png"}} for s, a in acc.items()}


def test_compg_within_noise_of_full_guidance_is_the_papers_claim():
    summary = summarize(_runs({"full": 0.90, "compg": 0.88, "uniform": 0.80, "early_stop": 0.15, "unguided": 0.10}))
    assert summary.headline == pytest.approx({"full guidance acc. %": 90.0, "CompG acc. %": 88.0,
                                              "unguided acc. %": 10.0, "CompG passes / full": 0.22})
    assert "matches full guidance within noise, the paper's claim" in summary.sentence
    assert "22% of full guidance's classifier passes" in summary.sentence and "keeping 98% of the gain" in \
        summary.sentence
    assert "uniform skipping 80% and early stopping 15%" in summary.sentence
    assert summary.figures == ["/r/full/figures/sample_grid.png", "/r/compg/figures/sample_grid.png"]


def test_compg_far_below_full_guidance_does_not_reproduce():
    summary = summarize(_runs({"full": 0.90, "compg": 0.26, "uniform": 0.44, "early_stop": 0.13, "unguided": 0.12}))
    assert "does not reproduce at this scale" in summary.sentence and "keeping 18% of the gain" in summary.sentence


def test_compg_keeping_most_but_not_all_holds_in_part():
    summary = summarize(_runs({"full": 0.90, "compg": 0.70, "unguided": 0.10}))
    assert "keeps most of full guidance's gain" in summary.sentence and "only in part" in summary.sentence
    assert "naive baselines" not in summary.sentence  # absent runs are left out, not invented


def test_no_guidance_effect_at_all_says_the_claim_cannot_be_tested():
    summary = summarize(_runs({"full": 0.14, "compg": 0.12, "unguided": 0.12}))
    assert "cannot test the paper's claim" in summary.sentence


def test_noise_is_binomial_and_missing_runs_are_a_clear_error():
    assert accuracy_noise(0.5, 200) == pytest.approx(0.1)
    assert accuracy_noise(0.5, 800) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="compress_guidance_full"):
        summarize(_runs({"compg": 0.5, "unguided": 0.1}))
    assert DEMOS.get("compress_guidance") is summarize
