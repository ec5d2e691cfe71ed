"""The video-memorization demo's summary: its statements follow the numbers."""
import pytest

from bench.methods.vdm_memorization.demo import summarize


def _run(aucs: dict, similarities: dict) -> dict:
    metrics = {f"{signal} magnitude {kind} AUC": value for (signal, kind), value in aucs.items()}
    metrics.update({f"{measure} on {kind} mean": value for (measure, kind), value in similarities.items()})
    return {"vdm_memorization_digits": {"metrics": metrics}}


AUCS = {("content", "content"): 0.9, ("content", "motion"): 0.8, ("motion", "content"): 0.7,
        ("motion", "motion"): 0.95}


def test_sentence_follows_the_numbers():
    good = summarize(_run(AUCS, {("content", "content"): 0.9, ("content", "motion"): 0.4,
                                 ("motion", "motion"): 0.8, ("motion", "content"): 0.3}))
    assert "detect both kinds" in good.sentence
    assert "(singles out content memorization)" in good.sentence
    assert "(singles out motion memorization)" in good.sentence
    assert good.headline["OFS-k motion prompts"] == pytest.approx(0.8)
    weak = summarize(_run({**AUCS, ("motion", "content"): 0.52}, {
        ("content", "content"): 0.5, ("content", "motion"): 0.48, ("motion", "motion"): 0.3,
        ("motion", "content"): 0.6}))
    assert "do not detect every kind" in weak.sentence
    assert "(does not single out content memorization)" in weak.sentence
    assert "(does not single out motion memorization)" in weak.sentence


def test_missing_run_or_metric_is_named():
    with pytest.raises(ValueError, match="run 'vdm_memorization_digits' is missing"):
        summarize({})
    with pytest.raises(ValueError, match="lacks 'content magnitude content AUC'"):
        summarize({"vdm_memorization_digits": {"metrics": {}}})
