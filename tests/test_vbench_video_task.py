"""The video generation task end to end with a tiny fake video method on a VBench prompt fixture: per-video dimension
columns, the per-dimension means against the formulas, NFE / wall time, MP4 export with VBench's naming, rescoring
without any model, a dimension reported as not configured, and the checks on a method's output."""
from __future__ import annotations

import time

import pytest
import torch

from bench.config import load_config
from bench.datasets.video import read_video
from bench.method import Method
from bench.registry import EXTRACTORS, METHODS, TASKS, VIDEO_SCORERS
from bench.results import read_results
from bench.runner import evaluate, score
from bench.store import SampleStore
from bench.tasks.generation.video import vbench_video_name
from bench.tasks.generation.video_scorers.base import ScorerUnavailableError, VideoScorer

FRAMES, SIZE = 4, 16


def _frame(seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (SIZE, SIZE, 3), generator=torch.Generator().manual_seed(seed)).to(torch.uint8)


@METHODS.register_module(force=True)
class FakeVideoMethod(Method):
    """Even sample numbers: a still video of one frame; odd ones: two frames alternating (A, B, A, B). Frames come
    from the per-sample seed, so they are fixed by the sample id."""

    def predict(self, batch, seeds):
        start = time.perf_counter()
        videos = []
        for k, seed in zip(batch["video_index"].tolist(), seeds.tolist(), strict=True):
            a, b = _frame(seed % 2**31), _frame(seed % 2**31 + 1)
            videos.append(torch.stack([a] * FRAMES) if k % 2 == 0 else torch.stack([a, b, a, b]))
        wall = (time.perf_counter() - start) / len(videos)
        return {"video": torch.stack(videos).numpy(), "nfe": [9] * len(videos), "wall_s": [wall] * len(videos)}


@pytest.fixture()
def config(tmp_path):
    prompts = tmp_path / "VBench" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "all_category.txt").write_text("a cat\na red car\n", encoding="utf-8")

    def write(task: str) -> str:
        path = tmp_path / "video_task.py"
        path.write_text(f"""
dataset = dict(type="VBenchPrompts", root={str(tmp_path / "VBench")!r}, samples_per_prompt=2)
method = dict(type="FakeVideoMethod")
task = {task}
run = dict(device="cpu", batch_size=3)
""")
        return str(path)
    return write


DIMENSIONS = ('dict(subject_consistency=dict(type="SubjectConsistency", extractor=dict(type="PixelCorrelationFeatures")'
              '), motion_smoothness=dict(type="MotionSmoothness", interpolator="linear"))')


def test_run_scores_each_video_exports_vbench_names_and_rescores_without_models(config, tmp_path):
    cfg = load_config(config(f'dict(type="video_generation", dimensions={DIMENSIONS}, fps=4)'),
                      {"run.work_dir": str(tmp_path / "run")})
    run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
    results = read_results(run_dir)
    rows = SampleStore(run_dir, results["config_sha256"]).load()
    assert rows["sample_id"] == ["a cat-0", "a cat-1", "a red car-0", "a red car-1"]
    assert rows["video_index"].tolist() == [0, 1, 0, 1] and rows["prompt"] == ["a cat", "a cat", "a red car",
                                                                               "a red car"]
    assert rows["video"].shape == (4, FRAMES, SIZE, SIZE, 3) and rows["subject_consistency"].dtype == torch.float64
    # subject consistency: 1 for a still video; (5c + 1) / 6 for A, B, A, B with c = max(0, corr(A, B))
    pixels = EXTRACTORS.build(dict(type="PixelCorrelationFeatures"))
    expected_sc = []
    for video, k in zip(rows["video"], rows["video_index"].tolist(), strict=True):
        fa, fb = pixels(video[:2])["pool"]
        c = max(0.0, float(fa @ fb))
        expected_sc.append(1.0 if k % 2 == 0 else (5 * c + 1) / 6)
    assert rows["subject_consistency"].tolist() == pytest.approx(expected_sc, abs=1e-6)
    # motion smoothness with the frame average: kept frames A, A predict A; dropped frame B: (255 - mean|B - A|) / 255
    expected_ms = [1.0 if k % 2 == 0 else float(255 - (v[1].double() - v[0].double()).abs().mean()) / 255
                   for v, k in zip(rows["video"], rows["video_index"].tolist(), strict=True)]
    assert rows["motion_smoothness"].tolist() == pytest.approx(expected_ms, abs=1e-12)
    metrics = results["metrics"]
    assert metrics["subject_consistency"] == pytest.approx(sum(expected_sc) / 4, abs=1e-6)
    assert metrics["motion_smoothness"] == pytest.approx(sum(expected_ms) / 4, abs=1e-12)
    assert metrics["NFE per video"] == 9.0 and metrics["seconds per video"] >= 0
    # sample number 0 is still (1.0), 1 alternates: the spread over the two sample numbers' means
    odd = [v for v, k in zip(expected_ms, rows["video_index"].tolist(), strict=True) if k == 1]
    assert metrics["motion_smoothness std over video_index"] == pytest.approx(
        float(torch.tensor([1.0, sum(odd) / 2], dtype=torch.float64).std()), abs=1e-12)
    names = sorted(p.name for p in (run_dir / "videos").iterdir())
    assert names == ["a cat-0.mp4", "a cat-1.mp4", "a red car-0.mp4", "a red car-1.mp4"]
    frames, fps, _ = read_video(run_dir / "videos" / "a cat-1.mp4")
    assert frames.shape == (FRAMES, SIZE, SIZE, 3) and fps == pytest.approx(4.0)
    facts = results["evaluation"]
    assert facts["dimensions"]["subject_consistency"]["label"].startswith("not VBench's DINO")
    assert facts["environment"]["device"] == "cpu" and facts["environment"]["torch"] == torch.__version__
    (run_dir / "videos" / "a cat-0.mp4").unlink()
    rescored = score(run_dir)  # no method, no scorer: the metrics come from the stored columns
    assert rescored["metrics"] == metrics
    assert "earlier process" in rescored["evaluation"]["dimensions"]["motion_smoothness"]["status"]
    assert (run_dir / "videos" / "a cat-0.mp4").is_file()  # the export is rewritten from the stored frames


@VIDEO_SCORERS.register_module(force=True)
class NeedsMissingCode(VideoScorer):
    """A scorer whose network code is not installed."""

    def __init__(self) -> None:
        raise ScorerUnavailableError("NeedsMissingCode: its network code (package 'absent') is not installed")


def test_unavailable_dimension_is_reported_not_configured(config, tmp_path):
    task = ('dict(type="video_generation", keep_videos=False, on_unavailable="skip", dimensions=dict('
            'subject_consistency=dict(type="SubjectConsistency", extractor=dict(type="PixelCorrelationFeatures")), '
            'imaging_quality=dict(type="NeedsMissingCode")))')
    cfg = load_config(config(task), {"run.work_dir": str(tmp_path / "run")})
    run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
    results = read_results(run_dir)
    assert set(results["metrics"]) == {"subject_consistency", "subject_consistency std over video_index",
                                       "NFE per video", "seconds per video"}
    stored = SampleStore(run_dir, results["config_sha256"]).stored_columns()
    assert "video" not in stored and "imaging_quality" not in stored and not (run_dir / "videos").exists()
    facts = results["evaluation"]
    assert facts["dimensions"]["imaging_quality"]["status"] == "not configured"
    assert "'absent'" in facts["dimensions"]["imaging_quality"]["reason"]
    assert facts["environment"]["device"] == "cpu" and facts["environment"]["torch"] == torch.__version__
    strict = TASKS.build({"type": "video_generation", "dimensions": {"iq": {"type": "NeedsMissingCode"}}})
    with pytest.raises(ValueError, match="on_unavailable='skip'"):
        strict.prepare("cpu")


def test_names_and_output_checks():
    assert vbench_video_name("A 3D model of a 1800s victorian house.", 4) == \
        "A 3D model of a 1800s victorian house.-4.mp4"
    with pytest.raises(ValueError, match="'/'"):
        vbench_video_name("a/b", 0)
    task = TASKS.build({"type": "video_generation", "dimensions": {"ms": {"type": "MotionSmoothness",
                                                                         "interpolator": "linear"}}})

    class Floats:
        def predict(self, batch, seeds):
            return {"video": torch.zeros(1, 3, 4, 4, 3)}

    with pytest.raises(ValueError, match=r"Floats: the method's 'video' output must be RGB uint8"):
        task.predict(Floats(), {"prompt": ["a"]}, torch.zeros(1))
    with pytest.raises(ValueError, match="clash with stored columns"):
        TASKS.build({"type": "video_generation", "dimensions": {"prompt": {"type": "MotionSmoothness"}}})
    with pytest.raises(ValueError, match="VIDEO_SCORERS specs"):
        TASKS.build({"type": "video_generation", "dimensions": {"ms": "MotionSmoothness"}})
