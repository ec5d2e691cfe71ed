"""The video-memorization demo's summary: its statements follow the numbers."""
import pytest

from bench.methods.vdm_memorization.demo import summarize


def _run(aucs: dict, similarities: dict) -> dict:
    """The two runs' metrics; the motion baseline ("motion", "none") lives in the second run only."""
    metrics = {f"{signal} magnitude {kind} AUC": value for (signal, kind), value in aucs.items()}
    metrics.update({f"{measure} on {kind} mean": value for (measure, kind), value in similarities.items()
                    if (measure, kind) != ("motion", "none")})
    return {"vdm_memorization_digits": {"metrics": metrics},
            "vdm_memorization_digits_motion_baseline": {"metrics": {
                "motion on none mean": similarities["motion", "none"]}}}


AUCS = {("content", "content"): 0.9, ("content", "motion"): 0.8, ("motion", "content"): 0.7,
        ("motion", "motion"): 0.95}


def test_sentence_follows_the_numbers():
    """Each similarity is judged against the class prompts' baseline ("none"), not against the other kind."""
    good = summarize(_run(AUCS, {("content", "content"): 0.9, ("content", "motion"): 0.95, ("content", "none"): 0.4,
                                 ("motion", "motion"): 0.8, ("motion", "content"): 0.9, ("motion", "none"): 0.74}))
    assert "detect both kinds" in good.sentence
    assert "GSSCD to the GT clip 0.90 for copied-clip prompts vs 0.40 for class prompts against a copied clip" \
        in good.sentence
    assert "(singles out content memorization)" in good.sentence
    assert "OFS-k 0.80 for copied-motion prompts vs 0.74 for class prompts against a copied trajectory (singles out " \
        "motion memorization; 0.90" in good.sentence
    assert good.headline == pytest.approx({"GSSCD clip prompts": 0.9, "GSSCD baseline": 0.4,
                                           "OFS-k motion prompts": 0.8, "OFS-k baseline": 0.74})
    weak = summarize(_run({**AUCS, ("motion", "content"): 0.52}, {
        ("content", "content"): 0.5, ("content", "motion"): 0.1, ("content", "none"): 0.46,
        ("motion", "motion"): 0.3, ("motion", "content"): 0.1, ("motion", "none"): 0.6}))
    assert "do not detect every kind" in weak.sentence
    assert "(does not single out content memorization)" in weak.sentence
    assert "(does not single out motion memorization" in weak.sentence


def test_missing_run_or_metric_is_named():
    with pytest.raises(ValueError, match="run 'vdm_memorization_digits' is missing"):
        summarize({})
    with pytest.raises(ValueError, match="lacks 'content magnitude content AUC'"):
        summarize({"vdm_memorization_digits": {"metrics": {}}})
    both = _run(AUCS, {(m, k): 0.5 for m in ("content", "motion") for k in ("content", "motion", "none")})
    del both["vdm_memorization_digits_motion_baseline"]
    with pytest.raises(ValueError, match="run 'vdm_memorization_digits_motion_baseline' is missing"):
        summarize(both)
