from pathlib import Path

import numpy as np
import pytest
import torch

from bench.store import SampleStore, StoreError, concat_columns


def add(store: SampleStore, indices: list[int]) -> None:
    ids = [f"s{i}" for i in indices]
    store.add(ids, torch.tensor(indices), torch.tensor(indices) * 10,
              {"logits": torch.tensor([[float(i), -float(i)] for i in indices]), "name": [f"n{i}" for i in indices]})


def test_chunks_are_written_every_flush_every_samples(tmp_path: Path):
    store = SampleStore(tmp_path, "ab" * 32, rank=1, flush_every=4)
    add(store, [0, 1, 2])
    assert store.chunk_paths() == []  # 3 < 4 queued, nothing on disk yet
    add(store, [3, 4])
    assert len(store.chunk_paths()) == 1
    add(store, [5])
    assert len(store.chunk_paths()) == 1
    store.flush()
    assert len(store.chunk_paths()) == 2
    assert not list(store.dir.glob("*.tmp")), "atomic writes leave no temporary files"


def test_load_sorts_rows_by_index_across_chunks_and_ranks(tmp_path: Path):
    for rank, indices in ((0, [4, 0, 2]), (1, [3, 1])):
        store = SampleStore(tmp_path, "cd" * 32, rank=rank, flush_every=1)
        add(store, indices)
        store.flush()
    out = SampleStore(tmp_path, "cd" * 32).load()
    assert out["index"].tolist() == [0, 1, 2, 3, 4]
    assert out["sample_id"] == ["s0", "s1", "s2", "s3", "s4"]
    assert out["name"] == ["n0", "n1", "n2", "n3", "n4"]
    assert out["seed"].tolist() == [0, 10, 20, 30, 40]
    assert out["logits"][:, 0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert SampleStore(tmp_path, "cd" * 32).finished_ids() == {"s0", "s1", "s2", "s3", "s4"}


def test_chunks_of_another_config_are_refused(tmp_path: Path):
    store = SampleStore(tmp_path, "ef" * 32, flush_every=1)
    add(store, [0])
    with pytest.raises(StoreError, match="another config"):
        SampleStore(tmp_path, "01" * 32).finished_ids()


def test_duplicate_samples_are_detected(tmp_path: Path):
    for _ in range(2):
        store = SampleStore(tmp_path, "12" * 32, flush_every=1)
        add(store, [7])
    with pytest.raises(StoreError, match="stored twice"):
        SampleStore(tmp_path, "12" * 32).load()


def test_columns_must_match_the_batch(tmp_path: Path):
    store = SampleStore(tmp_path, "34" * 32)
    with pytest.raises(ValueError, match="dim 0 must be the batch"):
        store.add(["a", "b"], torch.tensor([0, 1]), torch.tensor([0, 0]), {"x": torch.zeros(3)})
    with pytest.raises(ValueError, match="reserved"):
        store.add(["a"], torch.tensor([0]), torch.tensor([0]), {"seed": torch.zeros(1)})
    with pytest.raises(TypeError, match="tensor, array or list"):
        store.add(["a"], torch.tensor([0]), torch.tensor([0]), {"x": 3.0})


def test_numpy_columns_become_tensors():
    from bench.store import as_column

    assert isinstance(as_column("x", np.zeros((2, 3)), 2), torch.Tensor)
    assert concat_columns([]) == {}


def test_chunks_are_also_written_after_flush_seconds(tmp_path: Path, monkeypatch):
    now = [0.0]
    monkeypatch.setattr("bench.store.time.monotonic", lambda: now[0])
    store = SampleStore(tmp_path, "56" * 32, flush_every=10_000, flush_seconds=60.0)
    add(store, [0])
    now[0] = 10.0
    add(store, [1])
    assert store.chunk_paths() == []
    now[0] = 61.0  # a slow sample later, the pending three are written
    add(store, [2])
    assert len(store.chunk_paths()) == 1
    now[0] = 100.0  # 39 s after that flush: nothing yet
    add(store, [3])
    assert len(store.chunk_paths()) == 1
