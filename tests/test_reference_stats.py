"""Reference statistics files: guided-diffusion's VIRTUAL npz, our own format, image folders and building."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import DatasetLayoutError
from bench.io import sha256_file
from bench.metrics.generation import feature_statistics
from bench.tasks.generation.reference import (
    ImageSizeError,
    ReferenceNotFoundError,
    ReferenceStatistics,
    ReferenceStatsError,
    build_reference,
    center_crop,
    image_folder_batches,
    list_images,
)


def write_virtual(path, m: int = 6, d: int = 5, s: int = 3) -> dict[str, np.ndarray]:
    """A file laid out like guided-diffusion's ``VIRTUAL_imagenet64_labeled.npz`` (small)."""
    rng = np.random.default_rng(0)
    pool, spatial = rng.normal(size=(20, d)), rng.normal(size=(20, s))
    arrays = {"arr_0": rng.integers(0, 256, size=(m, 8, 8, 3), dtype=np.uint8),
              "mu": pool.mean(0), "sigma": np.cov(pool, rowvar=False),
              "mu_s": spatial.mean(0), "sigma_s": np.cov(spatial, rowvar=False)}
    np.savez(path, **arrays)
    return arrays


def test_virtual_npz_loads_as_guided_diffusion_format(tmp_path) -> None:
    path = tmp_path / "VIRTUAL_imagenet64_labeled.npz"
    arrays = write_virtual(path)
    stats = ReferenceStatistics.load(path)
    assert stats.format == "guided-diffusion" and stats.num_samples == 6 and stats.feature_dim == 5
    for key in ("mu", "sigma", "mu_s", "sigma_s"):
        np.testing.assert_array_equal(getattr(stats, key), arrays[key])
    np.testing.assert_array_equal(stats.images, arrays["arr_0"])
    assert stats.pool is None and stats.logits is None
    assert stats.path == str(path) and stats.sha256 == sha256_file(path)
    light = ReferenceStatistics.load(path, load_images=False)
    assert light.images is None and light.num_samples == 6 and light.meta["image_shape"] == [8, 8, 3]


def test_bench_format_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(1)
    features = {"pool": rng.normal(size=(30, 4)).astype(np.float32), "logits": torch.randn(30, 7),
                "spatial": rng.normal(size=(30, 3))}
    meta = {"extractor": {"name": "test", "resize": "none"}, "source": tmp_path / "images", "created": "today"}
    stats = ReferenceStatistics.from_features(features, meta)
    mu, sigma = feature_statistics(features["pool"])
    np.testing.assert_array_equal(stats.mu, mu)
    np.testing.assert_array_equal(stats.sigma, sigma)
    np.testing.assert_array_equal(stats.mu_s, features["spatial"].mean(0))
    assert stats.num_samples == 30 and stats.meta["num_samples"] == 30 and stats.format == "bench"

    path = stats.save(tmp_path / "sub" / "ref.npz")
    assert stats.sha256 == sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == ["logits", "meta", "mu", "mu_s", "pool", "sigma", "sigma_s"]
        assert json.loads(str(archive["meta"][()]))["source"] == str(tmp_path / "images")
    loaded = ReferenceStatistics.load(path)
    assert loaded.format == "bench" and loaded.sha256 == stats.sha256 and loaded.path == str(path)
    for key in ("mu", "sigma", "mu_s", "sigma_s", "pool", "logits"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(stats, key))
    assert loaded.pool.dtype == np.float32 and loaded.images is None
    assert loaded.meta == {**meta, "source": str(tmp_path / "images"), "num_samples": 30}


def test_save_with_images_writes_arr_0(tmp_path) -> None:
    images = np.random.default_rng(2).integers(0, 256, size=(4, 6, 6, 3), dtype=np.uint8)
    stats = ReferenceStatistics.from_features({"pool": np.random.default_rng(3).normal(size=(4, 2))})
    stats.images = images
    path = stats.save(tmp_path / "with_images.npz", include_images=True)
    np.testing.assert_array_equal(ReferenceStatistics.load(path).images, images)
    assert ReferenceStatistics.load(stats.save(tmp_path / "without.npz")).images is None


def test_load_errors_name_the_file_the_keys_and_the_fix(tmp_path) -> None:
    expected = r"(?s)missing\.npz does not exist.*arr_0, mu, sigma, mu_s, sigma_s.*VIRTUAL_imagenet64_labeled\.npz.*" \
               r"bench reference IMAGES_DIR --out FILE\.npz"
    with pytest.raises(ReferenceNotFoundError, match=expected):
        ReferenceStatistics.load(tmp_path / "missing.npz")
    assert issubclass(ReferenceNotFoundError, FileNotFoundError)
    bad = tmp_path / "bad.npz"
    np.savez(bad, foo=np.zeros(3), mu=np.zeros(3))
    with pytest.raises(ReferenceStatsError, match=r"(?s)bad\.npz: missing key\(s\) \['sigma'\]; found \['foo', "
                                                  r"'mu'\].*guided-diffusion.*bench reference IMAGES_DIR --out"):
        ReferenceStatistics.load(bad)
    images_only = tmp_path / "samples.npz"
    np.savez(images_only, arr_0=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(ReferenceStatsError, match="batch of images"):
        ReferenceStatistics.load(images_only)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, mu=np.zeros(2), sigma=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ReferenceStatsError, match="without pickle"):
        ReferenceStatistics.load(pickled)
    shapes = tmp_path / "shapes.npz"
    np.savez(shapes, mu=np.zeros(3), sigma=np.eye(4))
    with pytest.raises(ReferenceStatsError, match="mu must be"):
        ReferenceStatistics.load(shapes)
    not_npz = tmp_path / "text.npz"
    not_npz.write_text("hello")
    with pytest.raises(ReferenceStatsError, match="not a readable npz"):
        ReferenceStatistics.load(not_npz)


def write_png(path, value: int, size=(5, 4), mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = 3 if mode == "RGB" else 1
    array = np.full((size[1], size[0], channels), value, dtype=np.uint8)
    Image.fromarray(array[..., 0] if mode == "L" else array, mode=mode).save(path)


def test_image_folder_batches_sorted_nested_rgb(tmp_path) -> None:
    write_png(tmp_path / "b" / "2.png", 30)
    write_png(tmp_path / "a" / "sub" / "0.png", 20)
    write_png(tmp_path / "a" / "1.PNG", 10)
    write_png(tmp_path / "c.bmp", 40, mode="L")  # grayscale: decoded to RGB
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "b" / "._2.png").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble: hidden, not an image of the set
    write_png(tmp_path / ".ipynb_checkpoints" / "2-checkpoint.png", 99)
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == [
        "a/1.PNG", "a/sub/0.png", "b/2.png", "c.bmp"]
    batches = list(image_folder_batches(tmp_path, batch_size=3))
    assert [tuple(b.shape) for b in batches] == [(3, 4, 5, 3), (1, 4, 5, 3)]
    assert all(b.dtype == torch.uint8 for b in batches)
    images = torch.cat(batches)
    assert images[:, 0, 0, 0].tolist() == [10, 20, 30, 40] and bool((images[3] == 40).all())


def test_center_crop_follows_adm(tmp_path) -> None:
    """600x400 to 100: box-halved twice (150x100), no resize needed, columns 25..124 kept."""
    x = np.tile((np.arange(600) % 256).astype(np.uint8)[None, :, None], (400, 1, 3))
    image = Image.fromarray(x)
    halved = image.resize((300, 200), resample=Image.BOX).resize((150, 100), resample=Image.BOX)
    assert np.array_equal(center_crop(image, 100), np.asarray(halved)[:, 25:125])
    tall = Image.fromarray(np.full((90, 60, 3), 7, dtype=np.uint8))  # upscaled: short side 60 -> 64, bicubic
    assert center_crop(tall, 64).shape == (64, 64, 3) and bool((center_crop(tall, 64) == 7).all())
    write_png(tmp_path / "a.png", 1)
    write_png(tmp_path / "b.png", 2, size=(9, 8))  # mixed sizes are fine once cropped
    assert tuple(torch.cat(list(image_folder_batches(tmp_path, crop_size=4))).shape) == (2, 4, 4, 3)


def test_image_folder_errors(tmp_path) -> None:
    write_png(tmp_path / "imgs" / "a.png", 1)
    write_png(tmp_path / "imgs" / "z" / "odd.png", 2, size=(9, 8))
    with pytest.raises(ImageSizeError, match=r"odd\.png is 9x8 \(WxH\) but .*a\.png .* 5x4; resize or center-crop"):
        image_folder_batches(tmp_path / "imgs")
    (tmp_path / "empty" / "nested").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="no images"):
        image_folder_batches(tmp_path / "empty")
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        list_images(tmp_path / "nowhere")


def test_build_reference_equals_from_features(tmp_path) -> None:
    """A fixed random projection of the flattened image as extractor: building from folder batches of 3 equals
    ``from_features`` on the features of all images computed at once."""
    rng = np.random.default_rng(0)
    for i in range(7):
        (tmp_path / "imgs").mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)).save(tmp_path / "imgs" / f"{i}.png")
    projection = torch.randn(4 * 5 * 3, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    def extractor(batch: torch.Tensor) -> dict[str, torch.Tensor]:
        flat = batch.flatten(1).double() / 255
        return {"pool": flat @ projection, "logits": flat[:, :4], "spatial": flat[:, :3]}

    built = build_reference(image_folder_batches(tmp_path / "imgs", batch_size=3), extractor, {"source": "imgs"})
    images = torch.cat(list(image_folder_batches(tmp_path / "imgs")))
    direct = ReferenceStatistics.from_features({k: v.numpy() for k, v in extractor(images).items()})
    for key in ("mu", "sigma", "mu_s", "sigma_s", "pool", "logits"):
        np.testing.assert_array_equal(getattr(built, key), getattr(direct, key))
    assert built.meta == {"source": "imgs", "num_samples": 7}
    with pytest.raises(ReferenceStatsError, match="needs 'pool'"):
        build_reference([images], lambda batch: {"logits": batch.flatten(1).float()}, {})
