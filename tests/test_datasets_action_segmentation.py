"""MS-TCN layout reader (GTEA, 50Salads, Breakfast) on examples written in the exact layout; DiffAct's loader rules."""
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from pickle_fixture import malicious_pickle

from bench.data import DatasetLayoutError
from bench.datasets.action_segmentation import (GTEA, IGNORE_INDEX, Breakfast, GeneratedActionVideos, MSTCNVideos,
                                                Salads50, read_bundle, read_labels)
from bench.formats.mstcn import read_mapping
from bench.registry import DATASETS


def official_targets(root: Path, video: str) -> np.ndarray:
    """DiffAct's ``get_data_dict`` label rule: np.loadtxt names, index in the mapping's name column, else -100."""
    with warnings.catch_warnings():  # numpy notes that blank lines do not count as rows
        warnings.filterwarnings("ignore", "Input line .* contained no data")
        event_list = [row[1] for row in np.loadtxt(root / "mapping.txt", dtype=str)]
        events = np.loadtxt(root / "groundTruth" / f"{video}.txt", dtype=str)
    return np.array([event_list.index(e) if e in event_list else -100 for e in events])


def test_reads_written_example(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=6, feature_dim=16)
    data = DATASETS.build(dict(type="MSTCNVideos", data_root=str(tmp_path), split=1, subset="train"))
    bundle = (tmp_path / "splits/train.split1.bundle").read_text().split()
    assert [data.sample_id(i) for i in range(len(data))] == [b[:-4] for b in bundle] == [
        "video_001", "video_002", "video_004", "video_005"]
    assert data.class_names == ["background", "a", "b", "c"] and data.num_classes == 4
    item = data[1]
    stored = np.load(tmp_path / "features/video_002.npy")
    assert item["video"] == "video_002"
    assert item["features"].dtype == torch.float32 and item["features"].shape == (1, 16, stored.shape[1])
    assert torch.equal(item["features"][0], torch.from_numpy(stored))
    assert item["target"].dtype == torch.int64 and item["target"].shape == (stored.shape[1],)
    assert item["target"].tolist() == official_targets(tmp_path, "video_002").tolist()
    assert set(item["target"].tolist()) <= {0, 1, 2, 3} and len(set(item["target"].tolist())) >= 2
    test = MSTCNVideos(tmp_path, split=1)
    assert [test.sample_id(i) for i in range(len(test))] == ["video_003", "video_006"]
    described = test.describe()
    assert described["videos"] == 2 and described["num_classes"] == 4 and described["subset"] == "test"
    assert described["data_root"] == str(tmp_path) and described["split"] == 1


def test_mapping_order_not_ids(tmp_path):
    """Class index = line position: DiffAct reads only the name column."""
    MSTCNVideos.write_example(tmp_path, num_videos=3, class_names=("bg", "x", "y"))
    (tmp_path / "mapping.txt").write_text("7 y\n\n3 bg\n5 x\n")
    data = MSTCNVideos(tmp_path, 1)
    assert data.class_names == ["y", "bg", "x"]
    assert data[0]["target"].tolist() == official_targets(tmp_path, data.sample_id(0)).tolist()


def test_three_d_features_are_time_spatial_dim(tmp_path):
    """A 3-D file is (T, S, D): DiffAct swaps axes 0/1, indexes the spatial version, then transposes to (D, T)."""
    MSTCNVideos.write_example(tmp_path, num_videos=3, feature_dim=8)
    video = "video_003"
    frames = len((tmp_path / f"groundTruth/{video}.txt").read_text().split())
    stored = np.random.default_rng(1).normal(size=(frames, 5, 8)).astype(np.float32)
    np.save(tmp_path / f"features/{video}.npy", stored)
    features = MSTCNVideos(tmp_path, 1)[0]["features"]
    assert features.shape == (5, 8, frames)
    official = np.swapaxes(stored, 0, 1)  # get_data_dict
    for spatial in range(5):
        assert torch.equal(features[spatial], torch.from_numpy(official[spatial].T.copy()))  # __getitem__ (train)


def test_bundle_with_and_without_txt_and_first_dot_rule(tmp_path):
    path = tmp_path / "b.bundle"
    path.write_text("rgb-01-1.txt\nrgb-02-1\r\n\n  S1_Cheese_C1.txt \nrgb-01-1.txt\nodd.name.txt\n")
    assert read_bundle(path) == ["rgb-01-1", "rgb-02-1", "S1_Cheese_C1", "odd"]


def test_crlf_labels_and_trailing_blank_lines(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=3)
    label = tmp_path / "groundTruth/video_003.txt"
    lines = label.read_text().splitlines()
    label.write_bytes(("\r\n".join(lines) + "\r\n\r\n").encode())
    (tmp_path / "mapping.txt").write_bytes(b"0 background\r\n1 a\r\n2 b\r\n3 c\r\n")
    data = MSTCNVideos(tmp_path, 1)
    assert len(data[0]["target"]) == len(lines) == data[0]["features"].shape[-1]
    assert read_labels(label) == lines


def test_length_mismatch_names_both_files_and_lengths(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=3)
    label = tmp_path / "groundTruth/video_003.txt"
    lines = label.read_text().splitlines()
    label.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(DatasetLayoutError) as error:
        MSTCNVideos(tmp_path, 1)
    message = str(error.value)
    assert "features/video_003.npy" in message and "groundTruth/video_003.txt" in message
    assert f"{len(lines)} frames" in message and f"{len(lines) - 2} labels" in message


def test_feature_dim_must_agree(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=6, feature_dim=8)
    frames = np.load(tmp_path / "features/video_006.npy").shape[1]
    np.save(tmp_path / "features/video_006.npy", np.zeros((9, frames), np.float32))
    with pytest.raises(DatasetLayoutError, match=r"D = 9 in .*video_006.npy differs from D = 8 in .*video_003.npy"):
        MSTCNVideos(tmp_path, 1)


def test_unknown_label_error_and_ignore(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=3)
    label = tmp_path / "groundTruth/video_003.txt"
    lines = label.read_text().splitlines()
    lines[4] = "mystery"
    label.write_text("\n".join([lines[0], "", *lines[1:]]) + "\n")  # a blank line: file line 6 is frame 4
    with pytest.raises(DatasetLayoutError) as error:
        MSTCNVideos(tmp_path, 1)
    message = str(error.value)
    assert "'mystery'" in message and "video_003.txt" in message and "line 6 (frame 4)" in message
    assert "mapping.txt" in message and "unknown_labels='ignore'" in message
    target = MSTCNVideos(tmp_path, 1, unknown_labels="ignore")[0]["target"]
    assert target[4] == IGNORE_INDEX == -100
    assert target.tolist() == official_targets(tmp_path, "video_003").tolist()


def test_bad_mapping_line(tmp_path):
    (tmp_path / "mapping.txt").write_text("0 background\n1 pour milk\n")
    with pytest.raises(ValueError, match=r"mapping.txt, line 2: expected '<id> <name>'.*'1 pour milk'"):
        read_mapping(tmp_path / "mapping.txt")
    MSTCNVideos.write_example(tmp_path / "root", num_videos=3)
    (tmp_path / "root/mapping.txt").write_text("0 background\n1\n")
    with pytest.raises(DatasetLayoutError, match="line 2"):
        MSTCNVideos(tmp_path / "root", 1)


@pytest.mark.parametrize(("preset", "splits", "video"), [(GTEA, 4, "S1_Cheese_C1"), (Salads50, 5, "rgb-01-1"),
                                                          (Breakfast, 4, "P01_cam01_P01_cereals")],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_presets_splits_and_names(tmp_path, preset, splits, video):
    preset.write_example(tmp_path, num_videos=splits * 2)
    assert sorted(p.name for p in (tmp_path / "splits").iterdir()) == sorted(
        f"{s}.split{k}.bundle" for s in ("train", "test") for k in range(1, splits + 1))
    data = DATASETS.build(dict(type=preset.__name__, data_root=str(tmp_path), split=1))
    assert data.sample_id(0) == video and len(data) == 2
    assert len(preset(tmp_path, split=splits, subset="train")) == 2 * splits - 2
    for bad in (0, splits + 1):
        with pytest.raises(ValueError, match=rf"split must be an integer in 1\.\.{splits}"):
            preset(tmp_path, split=bad)
    assert preset.default_root.startswith("data/")


def test_missing_file_shows_layout(tmp_path):
    with pytest.raises(DatasetLayoutError) as error:
        Breakfast(tmp_path / "nowhere")
    message = str(error.value)
    assert "features" in message and "groundTruth/P03_cam01_P03_cereals.txt" in message
    assert "zenodo.org/record/3625992" in message
    MSTCNVideos.write_example(tmp_path, num_videos=3)
    (tmp_path / "groundTruth/video_003.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing groundTruth file\n  path: .*video_003.txt"):
        MSTCNVideos(tmp_path, 1)


def test_pickled_features_need_allow_pickle(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=3, feature_dim=4)
    path = tmp_path / "features/video_003.npy"
    stored = np.load(path)
    np.save(path, stored.astype(object), allow_pickle=True)
    with pytest.raises(DatasetLayoutError, match="allow_pickle=True"):
        MSTCNVideos(tmp_path, 1)
    data = MSTCNVideos(tmp_path, 1, allow_pickle=True)
    assert torch.equal(data[0]["features"][0], torch.from_numpy(stored))


def test_pickled_features_use_the_restricted_unpickler(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=3, feature_dim=4)
    path, marker = tmp_path / "features/video_003.npy", tmp_path / "marker"
    np.save(path, np.array([None], dtype=object), allow_pickle=True)
    with open(path, "rb") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        header = path.read_bytes()[:f.tell()]
    path.write_bytes(header + malicious_pickle(marker, wrap=False))
    data = MSTCNVideos(tmp_path, 1, allow_pickle=True)  # object arrays are only probed at construction
    with pytest.raises(DatasetLayoutError) as error:
        data[0]
    assert not marker.exists()
    assert "refused to unpickle the global posix.system" in str(error.value) and str(path) in str(error.value)


def test_corrupt_feature_files_are_refused_at_construction(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=3, feature_dim=4)
    path = tmp_path / "features/video_003.npy"
    path.write_bytes(path.read_bytes()[:200])  # the header and part of the data
    with pytest.raises(DatasetLayoutError, match=r"cannot read a .npy feature file .*truncated .npy file"):
        MSTCNVideos(tmp_path, 1)
    path.write_text("video_003 features")
    with pytest.raises(DatasetLayoutError, match=r"video_003.npy: not a .npy file or a truncated one"):
        MSTCNVideos(tmp_path, 1)
    (tmp_path / "groundTruth/video_003.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DatasetLayoutError, match="cannot read a text file of action names .*UnicodeDecodeError"):
        MSTCNVideos(tmp_path, 1)


@pytest.mark.parametrize(("preset", "classes"), [(GTEA, 11), (Salads50, 19), (Breakfast, 48)],
                         ids=lambda v: getattr(v, "__name__", str(v)))
def test_presets_refuse_a_mapping_with_another_class_count(tmp_path, preset, classes):
    preset.write_example(tmp_path, num_videos=4 * preset.num_splits, feature_dim=4)
    assert preset(tmp_path).num_classes == classes
    mapping = tmp_path / "mapping.txt"
    mapping.write_text("".join(mapping.read_text().splitlines(keepends=True)[:-1]))
    with pytest.raises(DatasetLayoutError, match=f"{classes - 1} classes listed, but {preset.__name__}'s "
                                                 f"mapping.txt has {classes}"):
        preset(tmp_path)
    assert MSTCNVideos(tmp_path, 1, unknown_labels="ignore").num_classes == classes - 1  # the generic reader: any


def test_videos_subset_and_cache(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=6)
    data = MSTCNVideos(tmp_path, 1, subset="train", videos=["video_004.txt", "video_001"])
    assert [data.sample_id(i) for i in range(len(data))] == ["video_004", "video_001"]
    assert data[0]["features"] is data[0]["features"]
    uncached = MSTCNVideos(tmp_path, 1, subset="train", cache=False)
    assert uncached[0]["features"] is not uncached[0]["features"]
    with pytest.raises(ValueError, match="video_003"):
        MSTCNVideos(tmp_path, 1, subset="train", videos=["video_003"])


def test_fingerprint_follows_label_files(tmp_path):
    MSTCNVideos.write_example(tmp_path, num_videos=3)
    before = MSTCNVideos(tmp_path, 1).fingerprint()
    assert MSTCNVideos(tmp_path, 1).fingerprint() == before
    label = tmp_path / "groundTruth/video_003.txt"
    lines = label.read_text().splitlines()
    lines[0] = "c" if lines[0] != "c" else "a"  # same size: the parsed targets are hashed too
    label.write_text("\n".join(lines) + "\n")
    assert MSTCNVideos(tmp_path, 1).fingerprint() != before


def test_write_example_is_seeded(tmp_path):
    MSTCNVideos.write_example(tmp_path / "a", num_videos=3, seed=4)
    MSTCNVideos.write_example(tmp_path / "b", num_videos=3, seed=4)
    MSTCNVideos.write_example(tmp_path / "c", num_videos=3, seed=5)
    load = lambda root: np.load(root / "features/video_001.npy")  # noqa: E731
    assert np.array_equal(load(tmp_path / "a"), load(tmp_path / "b"))
    assert not np.array_equal(load(tmp_path / "a"), load(tmp_path / "c"))
    with pytest.raises(ValueError, match="first dot"):
        MSTCNVideos.write_example(tmp_path / "d", file_names=["a.b", "c"])


def test_generated_videos_deterministic_and_reused(tmp_path):
    params = dict(num_videos=6, frames=(40, 60), feature_dim=8)
    first = GeneratedActionVideos(**params, root=tmp_path / "one")
    second = GeneratedActionVideos(**params, root=tmp_path / "two")
    assert len(first) == 2 and first.num_classes == 9
    for i in range(len(first)):
        assert first.sample_id(i) == second.sample_id(i)
        assert torch.equal(first[i]["features"], second[i]["features"])
        assert torch.equal(first[i]["target"], second[i]["target"])
    feature = tmp_path / "one/features/video_001.npy"
    stamp = feature.stat().st_mtime_ns
    again = GeneratedActionVideos(**params, subset="train", root=tmp_path / "one")
    assert feature.stat().st_mtime_ns == stamp and len(again) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no staging folder left
    with pytest.raises(ValueError, match="generator.json"):
        GeneratedActionVideos(**{**params, "seed": 1}, root=tmp_path / "one")


def test_generated_videos_default_root(tmp_path):
    """Without a root the data goes under the results root, one folder per parameter set."""
    data = GeneratedActionVideos(num_videos=3, frames=(40, 50), feature_dim=4)
    root = Path(os.environ["BENCH_RESULTS_DIR"]) / "datasets"
    assert [p.name for p in root.iterdir()] == [data.root.name] and data.root.name.startswith("generated_actions-")
    assert data.describe()["generator"]["num_videos"] == 3
    GeneratedActionVideos(num_videos=4, frames=(40, 50), feature_dim=4)
    assert len(list(root.iterdir())) == 2


def test_prediction_files_round_trip_in_the_official_format(tmp_path):
    from bench.formats.mstcn import read_prediction_file, write_prediction_file

    path = write_prediction_file(tmp_path / "prediction" / "S1_Cheese_C1.txt", [2, 2, 0], ["take", "open", "pour"])
    assert path.read_text() == "### Frame level recognition: ###\npour pour take"
    assert read_prediction_file(path) == ["pour", "pour", "take"]
    assert write_prediction_file(tmp_path / "ids.txt", [1, 0], None).read_text().endswith("\n1 0")
    (tmp_path / "bad.txt").write_text("pour pour\n")
    with pytest.raises(ValueError, match="not a prediction file"):
        read_prediction_file(tmp_path / "bad.txt")
