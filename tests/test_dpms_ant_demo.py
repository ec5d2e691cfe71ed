"""The DPMs-ANT demo summary: the rows' numbers, the row closest to the target, the Fig. 4 ordering verdict (both
ways), the no-transfer comparison and clear errors for missing runs."""
from __future__ import annotations

import pytest

from bench.methods.dpms_ant.demo import summarize


def _runs(**fids: float) -> dict[str, dict]:
    runs = {f"dpms_ant_1_{name}": {"metrics": {"digits_FID": fid,
                                               "digits_intra-cluster feature distance": 5.0 + fid / 100}}
            for name, fid in fids.items()}
    runs["dpms_ant_0_classifier"] = {"metrics": {"accuracy": 0.86}}
    return runs


def test_quick_rows_where_adaptor_only_is_closest():
    summary = summarize(_runs(adaptor_only=51.5, ant=64.2))
    assert summary.headline == {"FID adaptor only": 51.5, "FID ANT": 64.2, "diversity adaptor only": 5.515,
                                "diversity ANT": 5.642}
    assert "closest to the target: adaptor only" in summary.sentence
    assert "does not hold at this scale" in summary.sentence and "accuracy 0.86" in summary.sentence


def test_full_rows_in_the_papers_order_and_the_source_reference():
    summary = summarize(_runs(source=90.0, adaptor_only=40.0, full_finetune=30.0, ant_no_an=20.0, ant=10.0))
    assert "the paper's Fig. 4 ordering holds" in summary.sentence and "closest to the target: ANT" in summary.sentence
    assert "from the untransferred source: adaptor only, full fine-tuning, ANT w/o AN, ANT" in summary.sentence
    worse = summarize(_runs(source=15.0, adaptor_only=40.0, full_finetune=30.0, ant_no_an=20.0, ant=10.0))
    assert "from the untransferred source: ANT." in worse.sentence


def test_missing_runs_and_metrics_are_clear_errors():
    with pytest.raises(ValueError, match="needs the adaptor_only and ant runs"):
        summarize(_runs(adaptor_only=1.0))
    runs = _runs(adaptor_only=1.0, ant=2.0)
    runs["dpms_ant_1_ant"]["metrics"]["digits_FID"] = None
    with pytest.raises(ValueError, match=r"lacks \['digits_FID'\]"):
        summarize(runs)
