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


def interleaved_store(tmp_path: Path, n: int, columns, ranks: int = 2, flush_every: int = 3) -> SampleStore:
    """``n`` samples written by ``ranks`` strided ranks in chunks of ``flush_every``, as a sharded run writes them."""
    chash = "9a" * 32
    for rank in range(ranks):
        store = SampleStore(tmp_path, chash, rank=rank, flush_every=flush_every)
        for i in range(rank, n, ranks):
            store.add([f"s{i:03d}"], torch.tensor([i]), torch.tensor([i]), {k: f(i) for k, f in columns.items()})
        store.flush()
    return SampleStore(tmp_path, chash)


def test_load_reads_only_the_columns_asked_for(tmp_path: Path):
    columns = {"logits": lambda i: torch.tensor([[float(i), 1.0]]), "image": lambda i: torch.full((1, 4), i),
               "name": lambda i: [f"n{i}"]}
    store = interleaved_store(tmp_path, 11, columns)
    assert len(store.chunk_paths()) == 4 and store.stored_columns() == ["sample_id", "index", "seed", "logits",
                                                                          "image", "name"]
    full = store.load()
    part = store.load(columns=["logits", "missing"])
    assert list(part) == ["sample_id", "index", "logits"]  # row keys always; a name not stored is left out
    assert part["sample_id"] == full["sample_id"] == [f"s{i:03d}" for i in range(11)]
    assert torch.equal(part["logits"], full["logits"]) and full["logits"][:, 0].tolist() == list(range(11))
    assert list(store.load(columns=())) == ["sample_id", "index"]


def test_iter_chunks_yields_index_order_blocks_that_add_up_to_the_full_load(tmp_path: Path):
    store = interleaved_store(tmp_path, 13, {"image": lambda i: torch.full((1, 2, 2), i, dtype=torch.uint8),
                                             "name": lambda i: [f"n{i}"]})
    full = store.load()
    for rows in (None, 1, 4, 100):
        blocks = list(store.iter_chunks(["image", "name"], rows=rows))
        assert [len(b["sample_id"]) for b in blocks][:1] == [min(rows or 3, 13)]  # default: the largest chunk
        assert concat_columns(blocks)["index"].tolist() == list(range(13))
        assert torch.equal(concat_columns(blocks)["image"], full["image"])
        assert concat_columns(blocks)["name"] == full["name"]
    assert "seed" not in next(store.iter_chunks(["image"]))


def test_declared_columns_leave_images_out_of_generation_scoring():
    from bench.registry import METRICS
    from bench.tasks.generation import GenerationTask

    task = GenerationTask(extractor={"type": "ProjectionFeatures"},
                          metrics=[{"type": "InceptionScore", "split_size": 2}, {"type": "ClassAccuracy"},
                                   {"type": "SamplingCost"}])
    stored = ["sample_id", "index", "seed", "image", "class_label", "feat_pool", "feat_logits", "feat_spatial",
              "guided_steps", "model_forwards", "sampling_seconds", "on_gpu"]
    assert task.score_columns(stored) == {"feat_logits", "class_label", "guided_steps", "model_forwards",
                                          "sampling_seconds", "on_gpu"}  # images are exported, never scored
    assert METRICS.build({"type": "NLL"}).columns(["target", "probs", "image"]) == {"target", "probs"}
    robust = METRICS.build({"type": "RobustAccuracy"})
    assert robust.columns(["target", "clean_prediction", "adv_prediction.pgd", "linf.pgd", "image"]) == {
        "target", "clean_prediction", "adv_prediction.pgd", "linf.pgd"}


def test_streamed_exports_are_byte_identical_to_the_all_in_memory_ones(tmp_path: Path, monkeypatch):
    import io
    import zipfile

    from bench.tasks.action_segmentation import ActionSegmentationTask
    from bench.tasks.generation import GenerationTask
    from bench.tasks.generation.exports import write_png_shards
    from bench.formats.mstcn import write_prediction_file

    monkeypatch.setattr(zipfile.time, "time", lambda: 1_700_000_000.0)  # np.savez stamps members with the time
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (23, 5, 4, 3), dtype=torch.uint8, generator=gen)
    store = interleaved_store(tmp_path / "run", 23, {"image": lambda i: images[i:i + 1],
                                                     "class_label": lambda i: torch.tensor([i % 5])}, ranks=3)
    whole = store.load()
    task = GenerationTask(extractor={"type": "ProjectionFeatures"}, metrics=[{"type": "ClassAccuracy"}],
                          image_format="npz")
    streamed = task.write_exports(store, tmp_path / "streamed")["samples"]
    buffer = io.BytesIO()
    np.savez(buffer, arr_0=whole["image"].numpy(), arr_1=whole["class_label"].numpy())  # the former export
    assert streamed.name == "samples_23x5x4x3.npz" and streamed.read_bytes() == buffer.getvalue()

    task.image_format = "png"
    task.write_exports(store, tmp_path / "streamed")
    write_png_shards(tmp_path / "whole" / "images", whole["sample_id"], whole["index"], whole["image"])
    pngs = sorted(p.relative_to(tmp_path / "whole") for p in (tmp_path / "whole").rglob("*.png"))
    assert len(pngs) == 23
    assert all((tmp_path / "streamed" / p).read_bytes() == (tmp_path / "whole" / p).read_bytes() for p in pngs)
    grid = task.write_figures(store, tmp_path / "fig")["sample_grid"]
    assert grid.read_bytes() == task.write_figures(whole, tmp_path / "fig_whole")["sample_grid"].read_bytes()

    videos = interleaved_store(tmp_path / "seg", 7, {"prediction": lambda i: [torch.tensor([i % 3] * (i + 1))],
                                                     "target": lambda i: [torch.tensor([0] * (i + 1))]})
    seg = ActionSegmentationTask(class_names=["a", "b", "c"])
    seg.write_exports(videos, tmp_path / "seg_streamed")
    all_videos = videos.load()
    for video, labels in zip(all_videos["sample_id"], all_videos["prediction"], strict=True):
        write_prediction_file(tmp_path / "seg_whole" / "prediction" / f"{video}.txt", labels, ["a", "b", "c"])
    files = sorted(p.name for p in (tmp_path / "seg_whole" / "prediction").iterdir())
    assert len(files) == 7 and files == sorted(p.name for p in (tmp_path / "seg_streamed" / "prediction").iterdir())
    assert all((tmp_path / "seg_streamed" / "prediction" / f).read_bytes()
               == (tmp_path / "seg_whole" / "prediction" / f).read_bytes() for f in files)


def two_writers(tmp_path: Path, first: list[int], second: list[int], chash: str = "ab" * 32) -> SampleStore:
    """Two processes' chunks in one store, as two runs into one folder left them (one chunk each, ``first``'s
    chunk first in name order)."""
    for writer, indices in enumerate((first, second)):
        store = SampleStore(tmp_path, chash, flush_every=10_000)
        store._writer_id = f"writer{writer}"  # random per process; fixed here to fix the name order
        add(store, indices)
        store.flush()
    return SampleStore(tmp_path, chash)


def test_repair_keeps_the_first_copy_of_each_sample_and_quarantines_the_rest(tmp_path: Path):
    store = two_writers(tmp_path, [0, 1, 2], [2, 3, 1])
    first, second = store.chunk_paths()
    original_second = second.read_bytes()
    record = store.repair()
    assert record == {"duplicates_dropped": 2, "unreadable": {}, "quarantined": [], "rewritten": [second.name]}
    assert store.chunk_paths() == [first, second]
    out = store.load()
    assert out["sample_id"] == ["s0", "s1", "s2", "s3"] and out["logits"][:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert (store.dir / "quarantine" / second.name).read_bytes() == original_second  # nothing lost
    assert store.repair() is None  # sound now


def test_repair_moves_a_chunk_of_only_duplicates_to_quarantine(tmp_path: Path):
    store = two_writers(tmp_path, [0, 1, 2], [1, 2])
    first, second = store.chunk_paths()
    assert store.repair()["quarantined"] == [second.name]
    assert store.chunk_paths() == [first]
    assert sorted(p.name for p in (store.dir / "quarantine").iterdir()) == [second.name]
    assert store.load()["sample_id"] == ["s0", "s1", "s2"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "not_a_chunk"])
def test_an_unreadable_chunk_is_a_store_error_naming_it_and_repair_quarantines_it(tmp_path: Path, damage: str):
    store = two_writers(tmp_path, [0, 1], [2, 3])
    bad = store.chunk_paths()[1]
    if damage == "truncate":
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    elif damage == "garbage":
        bad.write_bytes(b"\x00\xff" * 100)
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        torch.save({"config_hash": "ab" * 32, "logits": torch.zeros(2)}, bad)
    for read in (store.finished_ids, store.load, lambda: list(store.iter_chunks())):
        with pytest.raises(StoreError, match=rf"{bad} is not a readable chunk \(.+\); `bench score {tmp_path}` or "
                                             r"`bench run \.\.\. --resume` moves it to samples/quarantine/"):
            read()
    record = store.repair()
    assert list(record["unreadable"]) == [bad.name] and record["quarantined"] == [bad.name]
    assert record["duplicates_dropped"] == 0
    assert store.finished_ids() == {"s0", "s1"}  # --resume recomputes s2, s3
    assert (store.dir / "quarantine" / bad.name).is_file()


def test_duplicates_message_names_the_repair(tmp_path: Path):
    store = two_writers(tmp_path, [0], [0])
    with pytest.raises(StoreError, match=rf"stored twice; the store is corrupt. `bench score {tmp_path}` .* repairs"):
        store.load()


def test_a_failed_write_keeps_the_samples_pending_and_rescue_writes_an_ordinary_chunk(tmp_path: Path, monkeypatch):
    import errno

    from bench import store as store_module
    from bench.store import StoreWriteError

    real_save = store_module.atomic_torch_save

    def full_disk(path, obj):
        if Path(path).parent == tmp_path / "samples":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, obj)

    monkeypatch.setattr(store_module, "atomic_torch_save", full_disk)
    store = SampleStore(tmp_path, "cd" * 32, flush_every=2)
    add(store, [0])
    with pytest.raises(StoreWriteError, match=r"could not write a chunk of 2 samples to .*samples \(No space left"):
        add(store, [1])
    assert store.pending_rows == 2 and store.chunk_paths() == []
    rows, path = store.rescue(tmp_path / "rescue")
    assert rows == 2 and store.pending_rows == 0 and path.parent == tmp_path / "rescue"
    monkeypatch.setattr(store_module, "atomic_torch_save", real_save)
    store.dir.mkdir()
    path.rename(store.dir / path.name)  # what the rescue message tells the user to do
    assert SampleStore(tmp_path, "cd" * 32).load()["sample_id"] == ["s0", "s1"]


def test_expected_ids_round_trip_and_refuse_another_config(tmp_path: Path):
    store = SampleStore(tmp_path, "ef" * 32)
    assert store.expected() is None
    store.write_expected(["b", "a"], 10)
    assert store.expected() == {"sample_ids": ["b", "a"], "original": 10}
    with pytest.raises(StoreError, match="expected.json: written by another config"):
        SampleStore(tmp_path, "01" * 32).expected()
    (store.dir / "expected.json").write_text("{")
    with pytest.raises(StoreError, match=r"expected.json is unreadable \(ValueError: .*not valid JSON"):
        store.expected()
