"""The memorization task's per-generation features against direct computations: copy similarity (max over GT images,
NaN without GT), the nearest-training-image similarity, images dropped after use when not kept, GT images from PNG
paths or arrays, map overlays."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from bench.registry import DATASETS
from bench.tasks.memorization import GT_KEY, TextToImageMemorizationTask, as_uint8_image, load_gt_image, map_overlay


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64).mean(-1).ravel(), b.astype(np.float64).mean(-1).ravel())[0, 1])


def _images(seed: int, n: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 3), dtype=np.uint8))


class FakeMethod:
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def predict(self, batch, seeds):  # noqa: ANN001, ANN201
        return {"label": torch.as_tensor(batch["label"]), "image": self.images}


def test_copy_similarity_is_the_max_pearson_over_gt_images(tmp_path):
    gens = _images(0, 4).reshape(2, 2, 8, 8, 3)  # 2 prompts x 2 generations
    gt_a, gt_b = _images(1, 1)[0].numpy(), _images(2, 1)[0].numpy()
    Image.fromarray(gt_b).save(tmp_path / "b.png")
    task = TextToImageMemorizationTask(metrics=[], similarity={"type": "PixelCorrelationFeatures"}, keep_images=False)
    batch = {"prompt": ["p0", "p1"], "label": torch.tensor([1, 0]), "gt_images": [[gt_a, str(tmp_path / "b.png")], []]}
    outputs = task.predict(FakeMethod(gens), batch, torch.zeros(2))
    assert len(outputs[GT_KEY]) == 2
    features = task.featurize(outputs)
    assert GT_KEY not in outputs and "image" not in outputs  # consumed, not stored
    got = features["copy_similarity"]
    assert got.shape == (2, 2)
    for g in range(2):
        want = max(_pearson(gens[0, g].numpy(), gt_a), _pearson(gens[0, g].numpy(), gt_b))
        assert got[0, g].item() == pytest.approx(want, abs=1e-5)  # float32 dot products of 64 unit-norm entries
    assert bool(torch.isnan(got[1]).all())


POOL = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


class Pool:
    """Five float (1, 8, 8) images in [-1, 1], as a diffusion training set holds them."""

    def __len__(self) -> int:
        return len(POOL)

    def __getitem__(self, i: int) -> dict:
        return {"image": POOL[i]}


def test_nearest_training_similarity_over_a_reference_pool(monkeypatch):
    monkeypatch.setitem(DATASETS._module_dict, "_PoolForTest", Pool)
    pool = POOL

    gens = as_uint8_image(pool[3])[None, None].expand(1, 2, -1, -1, -1).clone()  # a copy of pool image 3
    gens[0, 1] = _images(5, 1)[0]
    task = TextToImageMemorizationTask(metrics=[], similarity={"type": "PixelCorrelationFeatures"},
                                       train_reference={"type": "_PoolForTest"})
    outputs = task.predict(FakeMethod(gens), {"prompt": ["p"], "label": torch.tensor([0])}, torch.zeros(1))
    near = task.featurize(outputs)["nearest_train_similarity"]
    assert near[0, 0].item() == pytest.approx(1.0, abs=1e-5)
    pixels = [as_uint8_image(p).numpy() for p in pool]
    assert near[0, 1].item() == pytest.approx(max(_pearson(gens[0, 1].numpy(), p) for p in pixels), abs=1e-5)
    assert "image" in outputs  # keep_images=True by default
    with pytest.raises(ValueError, match=r"train_reference needs a similarity extractor"):
        TextToImageMemorizationTask(metrics=[], train_reference={"type": "_PoolForTest"})


def test_images_and_overlays(tmp_path):
    array = _images(3, 1)[0].numpy()
    Image.fromarray(array).save(tmp_path / "x.png")
    assert np.array_equal(load_gt_image(tmp_path / "x.png"), array)
    with pytest.raises(ValueError, match=r"PNG path or a uint8 \(H, W, 3\) array"):
        load_gt_image(np.zeros((4, 4), dtype=np.float32))
    assert as_uint8_image(torch.full((1, 2, 2), -1.0)).tolist() == [[[0, 0, 0]] * 2] * 2
    assert as_uint8_image(torch.ones(3, 2, 2))[0, 0].tolist() == [255, 255, 255]
    image = torch.zeros(16, 16, 3, dtype=torch.uint8)
    heat = torch.zeros(4, 4)
    heat[0, 0] = 1.0
    overlay = map_overlay(image, heat)
    assert overlay.shape == (16, 16, 3) and overlay.dtype == torch.uint8
    # jet: high values red, low values blue; half opacity over black
    assert overlay[0, 0, 0] > overlay[0, 0, 2] and overlay[15, 15, 2] > overlay[15, 15, 0]


def test_local_copy_similarity_is_the_pearson_inside_the_mask():
    from bench.tasks.memorization import masked_correlation

    rng = np.random.default_rng(7)
    gt = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    gens = torch.from_numpy(rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8))
    gens[0, :4, :4] = torch.from_numpy(gt[:4, :4])  # generation 0 copies the masked region only
    mask = torch.zeros(8, 8, dtype=torch.uint8)
    mask[:4, :4] = 1
    got = masked_correlation(gens, [gt], mask)
    assert got[0].item() == pytest.approx(1.0, abs=1e-6)
    want = _pearson(gens[1, :4, :4].numpy(), gt[:4, :4])
    assert got[1].item() == pytest.approx(want, abs=1e-6)
    assert bool(torch.isnan(masked_correlation(gens, [gt], torch.ones(8, 8))).all())  # full mask: not local
    assert bool(torch.isnan(masked_correlation(gens, [], mask)).all())
    task = TextToImageMemorizationTask(metrics=[], similarity={"type": "PixelCorrelationFeatures"})
    batch = {"prompt": ["p"], "label": torch.tensor([1]), "gt_images": [[gt]], "gt_mask": mask[None].numpy(),
             "memorization": ["local"]}
    outputs = task.predict(FakeMethod(gens[None]), batch, torch.zeros(1))
    assert outputs["memorization"] == ["local"]
    assert torch.equal(task.featurize(outputs)["local_copy_similarity"][0], got)


def test_fid_of_every_generation_against_a_reference_folder(tmp_path):
    from bench.metrics.generation import feature_statistics, frechet_distance
    from bench.tasks.generation.extractors.pixels import PixelCorrelationFeatures

    rng = np.random.default_rng(0)
    folder = tmp_path / "ref"
    folder.mkdir()
    references = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    for i, image in enumerate(references):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    spec = dict(extractor=dict(type="PixelCorrelationFeatures"),
                reference=dict(dataset=dict(type="CaptionedImageFolder", root=str(folder))),
                reference_cache=str(tmp_path / "cache"))
    task = TextToImageMemorizationTask(fid=spec, metrics=[dict(type="FID")])
    task.prepare("cpu")
    images = torch.from_numpy(rng.integers(0, 256, (3, 2, 8, 8, 3), dtype=np.uint8))  # 3 prompts x 2 generations
    features = task.featurize({"image": images, "prompt": ["a", "b", "c"], "label": torch.tensor([1, 0, 1])})
    assert features["feat_pool"].shape == (3, 2, 64)
    scores = task.evaluate({"label": torch.tensor([1, 0, 1]), "feat_pool": features["feat_pool"]})
    extractor = PixelCorrelationFeatures()
    mu, sigma = feature_statistics(extractor(images.reshape(6, 8, 8, 3))["pool"].double().numpy())
    ref_mu, ref_sigma = feature_statistics(extractor(torch.from_numpy(references))["pool"].double().numpy())
    assert scores["FID"] == pytest.approx(frechet_distance(mu, sigma, ref_mu, ref_sigma), rel=1e-5)
    assert task.describe()["fid_reference"]
    with pytest.raises(ValueError, match=r"fid must be dict\(extractor="):
        TextToImageMemorizationTask(fid=dict(extractor={}))
