"""The AMS demo summary: headline FIDs and a sentence computed from them (effect, no effect, mixed)."""
from __future__ import annotations

import pytest

from bench.methods.adaptive_momentum_sampler.demo import FID_NOISE, summarize
from bench.registry import DEMOS


def _runs(fids: dict[str, float]) -> dict[str, dict]:
    return {f"adaptive_momentum_sampler_{name}": {"metrics": {"digits_FID": fid}, "run_dir": f"/r/{name}",
                                                  "figures": {"sample_grid": "figures/sample_grid.png"}}
            for name, fid in fids.items()}


def test_ams_beyond_noise_at_every_step_count_is_the_papers_effect():
    summary = summarize(_runs({"ddim10": 5.0, "ams10": 4.0, "ddim20": 3.0, "ams20": 2.5}))
    assert summary.headline == {"DDIM FID@10": 5.0, "AMS FID@10": 4.0, "DDIM FID@20": 3.0, "AMS FID@20": 2.5}
    assert "beats DDIM beyond the seed noise" in summary.sentence and "10 and 20 steps" in summary.sentence
    assert "the paper's improvement, on a toy DDPM" in summary.sentence and "within" not in summary.sentence
    assert summary.figures[0] == "/r/ams10/figures/sample_grid.png" and len(summary.figures) == 4


def test_gaps_within_noise_say_the_effect_does_not_show():
    gap = FID_NOISE / 2
    summary = summarize(_runs({"ddim10": 14.40, "ams10": 14.40 - gap, "ddim20": 12.40, "ams20": 12.40 + gap}))
    assert "within the seed noise" in summary.sentence and "10 and 20 steps" in summary.sentence
    assert "does not show at this scale" in summary.sentence and "beats" not in summary.sentence


def test_mixed_gaps_and_a_worse_sampler_are_reported_per_step_count():
    summary = summarize(_runs({"ddim10": 5.0, "ams10": 4.0, "ddim20": 3.0, "ams20": 3.0 + 2 * FID_NOISE}))
    assert "beats DDIM beyond the seed noise (±0.1) at 10 steps" in summary.sentence
    assert "trails DDIM beyond the seed noise (±0.1) at 20 steps" in summary.sentence
    assert "only in part" in summary.sentence


def test_missing_pair_is_a_clear_error_and_the_summary_is_registered():
    with pytest.raises(ValueError, match="adaptive_momentum_sampler_ddim<steps>"):
        summarize(_runs({"ddim10": 5.0}))
    assert DEMOS.get("adaptive_momentum_sampler") is summarize
