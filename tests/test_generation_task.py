"""The generation task end to end: a tiny diffusers pipeline folder sampled through the runner, features stored per
sample, metrics against a reference built from a dataset, exports, rescoring and batch-size independence."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("diffusers")

from bench.config import load_config  # noqa: E402
from bench.tasks.generation.extractors.base import ImageFeatureExtractor  # noqa: E402
from bench.registry import EXTRACTORS  # noqa: E402
from bench.runner import evaluate, score  # noqa: E402
from bench.store import SampleStore  # noqa: E402


@EXTRACTORS.register_module(force=True)
class ProjectionFeatures(ImageFeatureExtractor):
    """A fixed random projection of the pixels: a deterministic extractor for tests (no weights to train)."""

    def __init__(self, dim: int = 8, classes: int = 4) -> None:
        generator = torch.Generator().manual_seed(0)
        self.pool_weight = torch.randn(64, dim, generator=generator)
        self.logit_weight = torch.randn(dim, classes, generator=generator)

    def to(self, device: torch.device) -> ProjectionFeatures:
        return self

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        pool = images.float().mean(-1).flatten(1) / 255 @ self.pool_weight
        return {"pool": pool, "logits": pool @ self.logit_weight}

    def describe(self) -> dict:
        return {"name": "projection", "weights_sha256": "none", "resize": "none"}


def _config(tmp_path, folder, **run):
    path = tmp_path / "gen.py"
    path.write_text(f"""
dataset = dict(type="GenerationRequests", num_samples=12)
method = dict(type="DiffusionSampler", model={str(folder)!r}, num_inference_steps=5,
              scheduler=dict(type="AdaptiveMomentumScheduler", method="adam", eta=1.0))
task = dict(type="generation", extractor=dict(type="ProjectionFeatures"),
            reference=dict(dataset=dict(type="Digits", split="train"), limit=100),
            reference_cache={str(tmp_path / "references")!r},
            metrics=[dict(type="FID", prefix="proj_"), dict(type="InceptionScore", split_size=6, prefix="proj_"),
                     dict(type="PrecisionRecall", k=3, prefix="proj_"),
                     dict(type="KID", subsets=5, subset_size=6, prefix="proj_")],
            image_format={run.pop("image_format", "png")!r})
run = dict(device="cpu", batch_size={run.get("batch_size", 12)})
""")
    return load_config(path, {"run.work_dir": str(tmp_path / f"run_b{run.get('batch_size', 12)}")})


def test_generation_run_stores_features_scores_and_exports(tmp_path, tiny_ddpm_folder):
    cfg = _config(tmp_path, tiny_ddpm_folder)
    run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
    results = json.loads((run_dir / "results.json").read_text())
    assert set(results["metrics"]) == {"proj_FID", "proj_IS", "proj_IS_std", "proj_precision", "proj_recall",
                                       "proj_KID", "proj_KID_std"}
    assert results["metrics"]["proj_FID"] > 0
    assert 0 <= results["metrics"]["proj_precision"] <= 1
    reference = results["evaluation"]["reference"]
    assert reference["num_samples"] == 100 and len(reference["sha256"]) == 64
    assert results["evaluation"]["extractor"]["name"] == "projection"
    outputs = SampleStore(run_dir, results["config_sha256"]).load()
    assert outputs["image"].shape == (12, 8, 8, 1) and outputs["image"].dtype == torch.uint8
    assert outputs["feat_pool"].shape == (12, 8) and outputs["feat_logits"].shape == (12, 4)
    png = run_dir / "images" / "00000" / "000003.png"
    assert np.array_equal(np.asarray(Image.open(png)), outputs["image"][3, ..., 0].numpy())
    assert (run_dir / results["figures"]["sample_grid"]).is_file()
    # rescoring reads the stored features only: same numbers
    assert score(run_dir)["metrics"] == results["metrics"]
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["method"]["scheduler"]["method"] == "adam" and prov["method"]["model_evaluations_per_sample"] == 5
    assert prov["method"]["model"]["format"]


def test_images_do_not_depend_on_batch_size(tmp_path, tiny_ddpm_folder):
    runs = []
    for batch_size in (12, 5):
        cfg = _config(tmp_path, tiny_ddpm_folder, batch_size=batch_size)
        run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
        runs.append(SampleStore(run_dir, json.loads((run_dir / "results.json").read_text())["config_sha256"]).load())
    assert torch.equal(runs[0]["image"], runs[1]["image"])
    assert torch.equal(runs[0]["seed"], runs[1]["seed"])


def test_npz_export_is_the_guided_diffusion_format(tmp_path, tiny_ddpm_folder):
    cfg = _config(tmp_path, tiny_ddpm_folder, image_format="npz")
    run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
    with np.load(run_dir / "samples_12x8x8x1.npz") as data:
        assert sorted(data.files) == ["arr_0"]  # unconditional: no labels
        assert data["arr_0"].shape == (12, 8, 8, 1) and data["arr_0"].dtype == np.uint8


def test_reference_is_needed_only_by_metrics_that_use_one():
    from bench.tasks.generation import GenerationTask

    with pytest.raises(ValueError, match="FID need reference statistics"):
        GenerationTask(extractor={"type": "ProjectionFeatures"}, metrics=[{"type": "FID"}])
    task = GenerationTask(extractor={"type": "ProjectionFeatures"},
                          metrics=[{"type": "InceptionScore", "split_size": 2}, {"type": "ClassAccuracy"}])
    assert task.reference() is None and task.describe()["reference"] == {}


def test_uint8_conversion_of_each_sampling_script():
    from bench.tasks.generation.exports import to_uint8_images

    x = torch.tensor([-1.0, 0.0, 1.0, 0.5, -0.999]).view(1, 1, 1, 5)
    as_list = {mode: to_uint8_images(x, mode).flatten().tolist() for mode in ("nearest", "guided_diffusion", "dit")}
    assert as_list == {"nearest": [0, 128, 255, 191, 0],  # 127.5 rounds half to even, 191.25 down
                       "guided_diffusion": [0, 127, 255, 191, 0],  # truncated (x + 1) * 127.5
                       "dit": [0, 128, 255, 191, 0]}  # truncated 127.5 x + 128: 0.5 -> 0, 255.5 -> 255
    with pytest.raises(ValueError, match="rounding"):
        to_uint8_images(x, "floor")


def test_neighbours_store_nl2_and_nearest_index_per_sample(tmp_path):
    from bench.tasks.generation import GenerationTask
    from bench.tasks.generation.neighbours import normalized_l2

    pool_spec = {"type": "DigitsDuplicated", "num_duplicated": 2, "copies": 8, "train_size": 80, "val_size": 20}
    task = GenerationTask(extractor={"type": "ProjectionFeatures"}, reference_cache=str(tmp_path),
                          neighbours={"pool": pool_spec, "dedup": 1.0},
                          metrics=[{"type": "CopySimilarity", "column": "nearest_train_nl2", "tail": "lower",
                                    "thresholds": (1.4, 1.6), "only_label": None, "prefix": "nL2 "}])
    task.prepare("cpu")
    pool = task.neighbour_pool()
    copied = ((pool.images[[5, 9]] + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)  # two training images
    noise = torch.randint(0, 256, (2, 8, 8, 1), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    images = torch.cat([copied, noise])
    columns = task.featurize({"image": images})
    assert columns["nearest_train_index"].tolist()[:2] == [5, 9]
    expected, nearest = normalized_l2(images.permute(0, 3, 1, 2).float() / 127.5 - 1, pool.images)
    np.testing.assert_allclose(columns["nearest_train_nl2"].numpy(), expected.numpy(), atol=1e-12)
    assert columns["nearest_train_index"].tolist() == nearest.tolist()
    assert (columns["nearest_train_nl2"][:2] < 1.4).all() and (columns["nearest_train_nl2"][2:] > 1.4).all()
    assert columns["feat_pool"].shape == (4, 8)
    facts = task.describe()["neighbours"]
    assert facts["size_before"] == 80 + 2 * 7 and facts["size_after"] == len(pool.images) < 80
    assert len(facts["sha256"]) == 64 and facts["dataset"] == pool_spec
    scores = task.evaluate({**columns, "image": images})
    assert scores["nL2 <1.4"] == 0.5 and scores["nL2 min"] == pytest.approx(float(expected.min()))
    figures = task.write_figures({**columns, "image": images}, tmp_path / "figures")
    from PIL import Image

    grid = np.asarray(Image.open(figures["nearest_neighbours"]))
    # two rows of 4 cells with 2-pixel padding: the 4 samples (lowest nL2 first: the copies) over their neighbours
    assert grid.shape == (2 + 2 * 10, 2 + 4 * 10, 3)
    first_sample, first_neighbour = grid[2:10, 2:10, 0], grid[12:20, 2:10, 0]
    np.testing.assert_array_equal(first_sample, first_neighbour)  # a copy sits over its training image
    with pytest.raises(ValueError, match=r"neighbours must be dict\(pool=<dataset spec>.*unknown \['pool_size'\]"):
        GenerationTask(extractor={"type": "ProjectionFeatures"}, metrics=[], neighbours={"pool": {}, "pool_size": 3})


def test_a_generation_run_without_an_extractor_stores_no_features_and_refuses_metrics_that_read_them():
    from bench.registry import TASKS

    task = TASKS.build(dict(type="generation", extractor=None, metrics=[]))
    task.prepare("cpu")
    images = torch.zeros(2, 8, 8, 3, dtype=torch.uint8)
    assert task.featurize({"image": images}) == {} and task.describe()["extractor"] is None
    with pytest.raises(ValueError, match=r"extractor=None stores no features, but FID, InceptionScore need them"):
        TASKS.build(dict(type="generation", extractor=None, metrics=[dict(type="FID"), dict(type="InceptionScore")],
                         reference="stats.npz"))
    with pytest.raises(ValueError, match=r"extractor=None stores no features, but the reference statistics need"):
        TASKS.build(dict(type="generation", extractor=None, metrics=[], reference="stats.npz"))
