"""The video-memorization demo's summary: its statements follow the numbers; the quick configs run and feed it."""
import json

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


def test_the_quick_configs_train_once_and_the_summary_reads_their_numbers(tmp_path, monkeypatch):
    """Both quick demo configs through the runner, shrunk to seconds (2 training steps, 1 video per prompt, 2 DDIM
    steps): they share one trained frames-as-channels model and the summary finds every number it reads."""
    from bench.config import load_config
    from bench.results import read_results, train_dir_for
    from bench.runner import evaluate

    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "results"))
    small = {"train.steps": 2, "method.num_videos": 1, "method.sampling.num_inference_steps": 2}
    runs, train_dirs = {}, set()
    for stem in ("vdm_memorization_digits", "vdm_memorization_digits_motion_baseline"):
        cfg = load_config(f"demo/{stem}", {**small, "run.work_dir": str(tmp_path / stem)})
        assert cfg.train.architecture == "frames_as_channels"
        train_dirs.add(train_dir_for(cfg))
        run_dir = evaluate(cfg, progress=False, wandb_mode="disabled")
        runs[stem] = {**read_results(run_dir), "run_dir": str(run_dir)}
    assert len(train_dirs) == 1  # the second config reuses the first one's model
    (model,) = (path.parent for path in next(iter(train_dirs)).rglob("toy.json"))
    record = json.loads((model / "toy.json").read_text())
    assert (record["architecture"], len(record["losses"])) == ("frames_as_channels", 2)
    summary = summarize(runs)
    assert set(summary.headline) == {"GSSCD clip prompts", "GSSCD baseline", "OFS-k motion prompts", "OFS-k baseline"}
    assert all(-1 <= value <= 1 for value in summary.headline.values())
    assert summary.headline["OFS-k baseline"] == pytest.approx(
        runs["vdm_memorization_digits_motion_baseline"]["metrics"]["motion on none mean"])
