"""AMG's local reference index: layout reading, FAISS kNN against brute force, the duplicate-caption rule, the content
hash and its cache."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import DatasetLayoutError
from bench.datasets.memorization import captioned_image_files
from bench.methods.amg.reference_index import ReferenceIndex
from bench.tasks.generation.extractors.pixels import PixelCorrelationFeatures


class CountingPixels(PixelCorrelationFeatures):
    """Pixel correlation that counts the images it embeds (to see the cache being used)."""

    def __init__(self) -> None:
        super().__init__(grayscale=False)
        self.seen = 0

    def __call__(self, images: Any) -> dict[str, torch.Tensor]:  # type: ignore[override]
        self.seen += len(images)
        return super().__call__(images)


def write_images(folder: Path, captions: list[str | None], shards: bool = True, seed: int = 0) -> Path:
    """Random 8x8 RGB PNGs in img2dataset's "files" layout (shard folders of 4, <key>.txt captions, a .json beside)."""
    rng = np.random.default_rng(seed)
    for i, caption in enumerate(captions):
        sub = folder / f"{i // 4:05d}" if shards else folder
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(sub / f"{i:09d}.png")
        (sub / f"{i:09d}.json").write_text("{}")
        if caption is not None:
            (sub / f"{i:09d}.txt").write_text(caption + "\n")
    return folder


def test_reader_img2dataset_and_flat_layouts(tmp_path: Path) -> None:
    write_images(tmp_path / "shards", ["a cat", None, "  ", "a dog", "x"])
    entries = captioned_image_files(tmp_path / "shards")
    assert [key for key, _, _ in entries] == ["00000/000000000.png", "00000/000000001.png", "00000/000000002.png",
                                              "00000/000000003.png", "00001/000000004.png"]
    assert [caption for _, _, caption in entries] == ["a cat", None, None, "a dog", "x"]
    write_images(tmp_path / "flat", ["one", "two"], shards=False)
    assert [(k, c) for k, _, c in captioned_image_files(tmp_path / "flat")] == [("000000000.png", "one"),
                                                                                ("000000001.png", "two")]


def test_reader_errors_name_the_layout(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"(?s)AMG reference index: the folder does not exist.*"
                                                 r"path: .*missing.*img2dataset"):
        captioned_image_files(tmp_path / "missing", what="AMG reference index")
    (tmp_path / "empty" / "00000").mkdir(parents=True)
    (tmp_path / "empty" / "00000" / "0.txt").write_text("a caption without its image")
    with pytest.raises(DatasetLayoutError, match=r"(?s)no images \(.png/.jpg.*shard folders.*<name>.txt caption"):
        captioned_image_files(tmp_path / "empty")


def test_faiss_neighbours_equal_brute_force(tmp_path: Path) -> None:
    embedder = PixelCorrelationFeatures(grayscale=False)
    index = ReferenceIndex(write_images(tmp_path / "ref", [None] * 40), embedder, embedder)
    queries = torch.nn.functional.normalize(torch.randn(5, 192, generator=torch.Generator().manual_seed(1)), dim=1)
    found = index.query(queries, 7)
    brute = (queries @ index.retrieval_embeddings.T).topk(7, dim=1).indices
    assert found.shape == (5, 7) and found.dtype == torch.long
    assert torch.equal(found, brute)
    assert index.query(queries, 1000).shape == (5, 40)  # k capped at the index size
    with pytest.raises(ValueError, match=r"embeddings must be \[B, 192\]"):
        index.query(queries[:, :10], 3)


def test_nearest_by_similarity_is_the_argmax_among_candidates(tmp_path: Path) -> None:
    embedder = PixelCorrelationFeatures(grayscale=False)
    index = ReferenceIndex(write_images(tmp_path / "ref", [None] * 12), embedder, embedder)
    target = index.similarity_embeddings[9]
    assert index.nearest_by_similarity(target, torch.arange(12)) == 9
    others = torch.tensor([2, 5, 7])
    assert index.nearest_by_similarity(target, others) == int(others[(index.similarity_embeddings[others]
                                                                      @ target).argmax()])


def test_duplicate_caption_needs_21_occurrences(tmp_path: Path) -> None:
    captions: list[str | None] = ["dup"] * 21 + ["other"] * 10 + [None] * 30
    embedder = PixelCorrelationFeatures(grayscale=False)
    index = ReferenceIndex(write_images(tmp_path / "ref", captions), embedder, embedder)
    assert index.duplicate_caption(torch.arange(61)) == "dup"  # 21 > 20: the official rule
    assert index.duplicate_caption(torch.arange(1, 61)) is None  # 20 occurrences
    assert index.duplicate_caption(torch.arange(1, 61), min_count=20) == "dup"
    assert index.duplicate_caption(torch.arange(31, 61)) is None  # images without captions never count


def test_hash_cache_and_describe(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "ref", ["a", "b", "c"])
    first = CountingPixels()
    index = ReferenceIndex(folder, first, first, cache_dir=tmp_path / "cache")
    assert (first.seen, index.from_cache) == (6, False)  # both embedders over 3 images
    again = CountingPixels()
    reused = ReferenceIndex(folder, again, again, cache_dir=tmp_path / "cache")
    assert (again.seen, reused.from_cache, reused.hash) == (0, True, index.hash)
    assert torch.equal(reused.similarity_embeddings, index.similarity_embeddings)
    (folder / "00000" / "000000001.txt").write_text("b changed")
    changed = ReferenceIndex(folder, CountingPixels(), CountingPixels(), cache_dir=tmp_path / "cache")
    assert changed.hash != index.hash and not changed.from_cache
    assert len(list((tmp_path / "cache").glob("amg_reference_*.pt"))) == 2
    described = changed.describe()
    assert described["reference"] == "proxy" and described["size"] == 3 and described["hash"] == changed.hash
    assert described["captioned"] == 3 and described["similarity"]["name"] == "pixel_correlation"
    assert described["knn"].startswith("faiss IndexFlatIP")
