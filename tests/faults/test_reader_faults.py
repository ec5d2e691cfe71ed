"""Faulty dataset trees and files: labels never shift silently, data files never run code, bad files are named."""
from __future__ import annotations

import io
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fault_harness import call_like_cli, expect_clear, record
from pickle_fixture import CreatesMarker, malicious_pickle

SMALL = {"resize": 10, "crop_size": 8}


def _jpeg_bytes(seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def imagenet_1k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """val/<wnid>/<image> for the 1,000 ImageNet-1k wnids, one tiny JPEG each (image k in class k)."""
    from timm.data import ImageNetInfo

    root = tmp_path_factory.mktemp("imagenet") / "clean"
    data = _jpeg_bytes()
    for k, wnid in enumerate(ImageNetInfo().label_names()):
        folder = root / "val" / wnid
        folder.mkdir(parents=True)
        (folder / f"ILSVRC2012_val_{k + 1:08d}.JPEG").write_bytes(data)
    return root


@pytest.fixture
def imagenet_copy(imagenet_1k: Path, tmp_path: Path) -> Path:
    root = tmp_path / "imagenet"
    shutil.copytree(imagenet_1k, root)
    return root


def _imagenet(root: Path):  # noqa: ANN202
    from bench.datasets.imagenet import ImageNetVal

    return ImageNetVal(root, **SMALL)


def test_hidden_folder_does_not_shift_labels(imagenet_copy: Path):
    hidden = imagenet_copy / "val" / ".ipynb_checkpoints"
    hidden.mkdir()
    (hidden / "ILSVRC2012_val_00000001-checkpoint.JPEG").write_bytes(_jpeg_bytes())
    (imagenet_copy / "val" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    outcome = call_like_cli(_imagenet, imagenet_copy)
    shifted = False
    if outcome.status == 0:
        data = _imagenet(imagenet_copy)
        shifted = len(data) != 1000 or any(data.labels[i] != int(data.ids[i][-8:]) - 1 for i in range(len(data)))
    kind = record("hidden folder in ImageNet val", outcome, refused=False, silent=shifted)
    assert kind == "clear", f"{kind}: labels shifted by a hidden folder\n{outcome.message}"


def test_missing_class_folder_is_refused(imagenet_copy: Path):
    shutil.rmtree(imagenet_copy / "val" / "n01443537")
    expect_clear("missing ImageNet class folder", call_like_cli(_imagenet, imagenet_copy), "n01443537")


def test_unknown_class_folder_is_refused(imagenet_copy: Path):
    (imagenet_copy / "val" / "n99999999").mkdir()
    (imagenet_copy / "val" / "n99999999" / "x.JPEG").write_bytes(_jpeg_bytes())
    expect_clear("unknown ImageNet class folder", call_like_cli(_imagenet, imagenet_copy), "n99999999")


def test_corrupt_image_is_named(imagenet_copy: Path):
    bad = imagenet_copy / "val" / "n01440764" / "ILSVRC2012_val_00000001.JPEG"
    bad.write_bytes(_jpeg_bytes()[:40])
    dataset = _imagenet(imagenet_copy)
    expect_clear("truncated JPEG", call_like_cli(dataset.__getitem__, dataset.ids.index(bad.stem)), bad.name)


def _cifar10(tmp_path: Path) -> Path:
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, size=(10, 3072), dtype=np.uint8), b"labels": [i % 10 for i in range(10)],
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(10)]}
        (base / name).write_bytes(pickle.dumps(batch))
    (base / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    return tmp_path


def _cifar(root: Path, split: str = "test"):  # noqa: ANN202
    from bench.datasets.cifar import CIFAR10

    return CIFAR10(root, split=split)


def test_cifar_pickle_that_runs_code_is_refused(tmp_path: Path):
    root = _cifar10(tmp_path)
    marker = tmp_path / "code_ran"
    batch = root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(malicious_pickle(marker))
    outcome = call_like_cli(_cifar, root)
    kind = record("CIFAR pickle that runs code", outcome, ("test_batch", "system"), silent=marker.exists())
    assert kind == "clear", f"{kind} (code ran: {marker.exists()})\n{outcome.message}"


@pytest.mark.parametrize("damage", ["truncated", "empty", "not a pickle", "wrong shape"])
def test_damaged_cifar_batch_is_named(damage: str, tmp_path: Path):
    root = _cifar10(tmp_path)
    batch = root / "cifar-10-batches-py" / "test_batch"
    content = {"truncated": batch.read_bytes()[:500], "empty": b"", "not a pickle": b"hello world",
               "wrong shape": pickle.dumps({b"data": np.zeros((10, 100), np.uint8), b"labels": [0] * 10})}[damage]
    batch.write_bytes(content)
    expect_clear(f"{damage} CIFAR batch", call_like_cli(_cifar, root), "test_batch")


def test_cifar_missing_folder_names_the_layout(tmp_path: Path):
    expect_clear("missing CIFAR folder", call_like_cli(_cifar, tmp_path), "cifar-10-batches-py")


@pytest.mark.parametrize("damage", ["truncated", "text", "wrong content"])
def test_damaged_logits_file_is_named(damage: str, tmp_path: Path):
    from bench.datasets.logits_file import LogitsFile

    path = tmp_path / "logits.pt"
    torch.save((torch.randn(20, 4), torch.randint(0, 4, (20,))), path)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    elif damage == "text":
        path.write_text("logits,labels\n")
    else:
        torch.save({"scores": torch.zeros(3)}, path)
    expect_clear(f"{damage} logits file", call_like_cli(LogitsFile, str(path)), "logits.pt")


def _segmentation(kind: str, root: Path):  # noqa: ANN202
    import bench.datasets.segmentation as segmentation

    reader = getattr(segmentation, kind)
    reader.write_example(root)
    return reader


def test_segmentation_label_out_of_range_is_refused(tmp_path: Path):
    reader = _segmentation("ADE20K", tmp_path)
    path = tmp_path / "annotations/validation/ADE_val_00000002.png"
    label = np.array(Image.open(path))
    label[0, :3] = 200
    Image.fromarray(label).save(path)
    expect_clear("segmentation label out of range", call_like_cli(lambda: reader(tmp_path)[1]), path.name, "199")


def test_segmentation_truncated_label_is_named(tmp_path: Path):
    reader = _segmentation("PascalVOC", tmp_path)
    path = tmp_path / "SegmentationClass/2007_000042.png"
    path.write_bytes(path.read_bytes()[:30])
    expect_clear("truncated segmentation label", call_like_cli(lambda: reader(tmp_path)[1]), path.name)


def test_segmentation_hidden_files_are_not_samples(tmp_path: Path):
    reader = _segmentation("Cityscapes", tmp_path)
    clean = [reader(tmp_path).sample_id(i) for i in range(len(reader(tmp_path)))]
    images = tmp_path / "leftImg8bit/val/frankfurt"
    (images / "._frankfurt_000000_000294_leftImg8bit.png").write_bytes(b"\x00\x05\x16\x07")
    outcome = call_like_cli(reader, tmp_path)
    ids = [reader(tmp_path).sample_id(i) for i in range(len(reader(tmp_path)))] if outcome.status == 0 else clean
    kind = record("AppleDouble file among segmentation images", outcome, refused=False, silent=ids != clean)
    assert kind == "clear", outcome.message


def _videos(root: Path):  # noqa: ANN202
    from bench.datasets.action_segmentation import MSTCNVideos

    MSTCNVideos.write_example(root, num_videos=3, feature_dim=4)
    return MSTCNVideos


def test_truncated_feature_file_is_named(tmp_path: Path):
    reader = _videos(tmp_path)
    path = tmp_path / "features/video_003.npy"
    path.write_bytes(path.read_bytes()[:200])
    outcome = call_like_cli(lambda: [item for item in reader(tmp_path, 1)])
    expect_clear("truncated .npy features", outcome, "video_003.npy")


def test_feature_pickle_that_runs_code_is_refused(tmp_path: Path):
    reader = _videos(tmp_path)
    path, marker = tmp_path / "features/video_003.npy", tmp_path / "code_ran"
    np.save(path, np.array([CreatesMarker(marker), 1], dtype=object), allow_pickle=True)

    def read_all() -> None:
        data = reader(tmp_path, 1, allow_pickle=True)
        for index in range(len(data)):
            data[index]

    outcome = call_like_cli(read_all)
    kind = record("object-array .npy that runs code", outcome, ("video_003.npy", "system"), silent=marker.exists())
    assert kind == "clear", f"{kind} (code ran: {marker.exists()})\n{outcome.message}"


def test_truncated_coco_annotations_are_named(tmp_path: Path):
    from bench.datasets.coco import COCOInstances

    COCOInstances.write_example(tmp_path)
    path = tmp_path / "annotations" / "instances_val2017.json"
    path.write_text(path.read_text()[:300])
    expect_clear("truncated COCO annotations", call_like_cli(COCOInstances, tmp_path), "instances_val2017.json")


def test_coco_missing_category_is_refused(tmp_path: Path):
    import json

    from bench.datasets.coco import COCOInstances

    COCOInstances.write_example(tmp_path)
    path = tmp_path / "annotations" / "instances_val2017.json"
    payload = json.loads(path.read_text())
    payload["categories"] = [c for c in payload["categories"] if c["id"] != 13]
    path.write_text(json.dumps(payload))
    expect_clear("COCO category missing (labels would shift)", call_like_cli(COCOInstances, tmp_path), "stop sign")
