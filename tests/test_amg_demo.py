"""The AMG demo's summary (methods/amg/demo.py): its verdicts follow the numbers, and a missing run is named."""
import pytest

from bench.methods.amg.demo import share_noise, summarize


def _run(copies: float, fid: float, triggered: float = 0.5, guided: float = 1.0, n: int = 200) -> dict:
    return {"metrics": {"nL2 <0.5": copies, "digits_FID": fid, "guidance triggered": triggered,
                        "guidance guided steps": guided}, "samples": {"effective": n}}


def test_verdicts_follow_the_numbers():
    removed = summarize({"amg_plain": _run(0.175, 28.6), "amg_full": _run(0.0, 19.9)})
    assert "AMG removes every copy" in removed.sentence and removed.headline["copies % plain"] == pytest.approx(17.5)
    partial = summarize({"amg_plain": _run(0.5, 20.0), "amg_full": _run(0.2, 20.0)})
    assert "removes most copies but not all" in partial.sentence
    absent = summarize({"amg_plain": _run(0.5, 20.0), "amg_full": _run(0.48, 20.0)})
    assert "effect is absent" in absent.sentence
    no_copies = summarize({"amg_plain": _run(0.01, 20.0), "amg_full": _run(0.0, 20.0)})
    assert "barely copies" in no_copies.sentence


def test_full_profile_rows_and_the_table_5_comparison():
    runs = {"amg_plain": _run(0.66, 26.3, n=500), "amg_full": _run(0.0, 22.6, n=500),
            "amg_noised": _run(0.092, 21.7, n=500), "amg_everywhere": _run(0.0, 20.3, n=500)}
    sentence = summarize(runs).sentence
    assert "the code's x_t comparison gives 9.2%" in sentence and "costs no quality here" in sentence
    runs["amg_everywhere"] = _run(0.0, 60.0, n=500)
    assert "costs quality, as Table 5 reports" in summarize(runs).sentence


def test_missing_run_is_named():
    with pytest.raises(ValueError, match=r"run 'amg_full' lacks"):
        summarize({"amg_plain": _run(0.2, 20.0)})
    assert share_noise(0.5, 200) == pytest.approx(2 * (2 * 0.25 / 200) ** 0.5)
