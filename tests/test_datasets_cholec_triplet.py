"""CholecT45 / CholecT50 readers on examples written in the official layouts; official folds; generated demo data."""
import json
from pathlib import Path

import ivtmetrics
import numpy as np
import pytest
import torch

from bench.data import DatasetLayoutError
from bench.datasets.cholec_triplet import (CHALLENGE_TEST, COMPONENT_SIZES, CV_FOLDS_T50, INSTRUMENTS, JOINT_SLICES,
                                           LABEL_KEYS, TARGETS, VERBS, CholecT45, CholecT50, GeneratedSurgicalVideos,
                                           cv_folds, read_names, split_videos, write_cholect45_example,
                                           write_cholect50_example)
from bench.formats.cholec import format_mapping, read_mapping
from bench.registry import DATASETS

BANK = ivtmetrics.Disentangle().bank
VIDEOS = ["VID01", "VID02", "VID111"]


@pytest.fixture(scope="module")
def t45(tmp_path_factory):
    root = tmp_path_factory.mktemp("t45")
    return write_cholect45_example(root, videos=VIDEOS, frames=(12, 30), seed=3, feature_dim=8, image_size=(4, 6))


@pytest.fixture(scope="module")
def t50(tmp_path_factory):
    root = tmp_path_factory.mktemp("t50")
    return write_cholect50_example(root, videos=VIDEOS, frames=(12, 30), seed=3, feature_dim=8, image_size=(4, 6))


def parse_t45(root: Path, video: str) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices and the concatenated ivt|i|v|t labels, read with plain numpy as the official loader reads them."""
    tables = [np.loadtxt(root / folder / f"{video}.txt", dtype=int, delimiter=",", ndmin=2)
              for folder in ("triplet", "instrument", "verb", "target")]
    return tables[0][:, 0], np.concatenate([t[:, 1:] for t in tables], axis=1)


def test_official_folds():
    t50, t45 = cv_folds("CholecT50"), cv_folds("CholecT45")
    assert sorted(t50) == sorted(t45) == [1, 2, 3, 4, 5] and t50 == CV_FOLDS_T50
    assert all(len(t50[k]) == 10 and len(t45[k]) == 9 for k in t50)
    assert all(t45[k] == t50[k][:-1] for k in t50)
    union50, union45 = [v for k in t50 for v in t50[k]], [v for k in t45 for v in t45[k]]
    assert len(set(union50)) == len(union50) == 50 and len(set(union45)) == len(union45) == 45
    assert {t50[k][-1] for k in t50} == set(union50) - set(union45) == set(CHALLENGE_TEST)
    assert t50[1][:3] == ("VID79", "VID02", "VID51") and t50[5][-1] == "VID92"
    train, test = split_videos("CholecT45", "cv", 3)
    assert test == list(t45[3]) and train == [*t45[1], *t45[2], *t45[4], *t45[5]]
    train, test = split_videos("CholecT50", "challenge")
    assert test == list(CHALLENGE_TEST) and len(train) == 45 and set(train) == set(union45)
    assert not set(train) & set(test)
    train, test = split_videos("CholecT50", "cv", 1, available=["VID92", "VID79", "VID111"])
    assert (train, test) == (["VID92"], ["VID79", "VID111"])


@pytest.mark.parametrize(("args", "match"), [
    (("CholecT45", "cv", 0), r"1\.\.5"), (("CholecT45", "cv", 6), r"1\.\.5"), (("CholecT50", "cv", None), r"1\.\.5"),
    (("CholecT45", "challenge"), "CholecT45 does not contain"), (("CholecT45", "loso", 1), "'cv', 'challenge'"),
    (("CholecT40", "cv", 1), "'CholecT45', 'CholecT50'")])
def test_bad_split_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        split_videos(*args)


def test_read_mapping_round_trip_and_errors(tmp_path):
    shipped = Path(ivtmetrics.__file__).parent / "maps.txt"  # the official file, header line included
    assert np.array_equal(read_mapping(shipped), BANK)
    path = tmp_path / "maps.txt"
    path.write_text(format_mapping(BANK))
    assert path.read_text().startswith("# IVT, I, V, T, IV, IT\n0,0,2,1,2,1\n")
    mapping = read_mapping(path)
    assert mapping.dtype == np.int64 and mapping.shape == (100, 6) and np.array_equal(mapping, BANK)
    lines = path.read_text().splitlines()
    for line, message in (("2,0,2,10,2", r"maps.txt, line 4: expected 6 comma-separated.*5 fields"),
                          ("2,0,x,10,2,10", r"line 4: expected 6 comma-separated integers.*'2,0,x,10,2,10'"),
                          ("3,0,0,3,0,3", r"line 4: triplet id 3 where 2 was expected"),
                          ("2,0,2,15,2,10", r"line 4: t id 15 is outside 0\.\.14")):
        path.write_text("\n".join([*lines[:3], line, *lines[4:]]) + "\n")
        with pytest.raises(ValueError, match=message):
            read_mapping(path)
    path.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(ValueError, match="99 triplet rows, expected 100"):
        read_mapping(path)


def test_read_names(tmp_path):
    path = tmp_path / "triplet.txt"
    path.write_text("0:grasper,dissect,cystic_plate\n1:hook,cut,peritoneum\n\n")
    assert read_names(path) == ["grasper,dissect,cystic_plate", "hook,cut,peritoneum"]
    path.write_text("-1:null_instrument\n0:grasper\n1:bipolar\n")
    assert read_names(path) == ["grasper", "bipolar"]
    path.write_text("1:grasper\n0:bipolar\n")
    with pytest.raises(ValueError, match="line 1: id 1 where 0 was expected"):
        read_names(path)
    path.write_text("0 grasper\n")
    with pytest.raises(ValueError, match="line 1: expected '<id>:<name>'"):
        read_names(path)


def test_cholect45_reader_matches_label_files(t45):
    data = DATASETS.build(dict(type="CholecT45", data_root=str(t45), videos=VIDEOS, features_dir="features"))
    assert [data.sample_id(i) for i in range(len(data))] == VIDEOS and data.num_classes == 131
    assert np.array_equal(data.mapping, BANK)
    assert data.names["i"] == list(INSTRUMENTS) and data.names["v"] == list(VERBS) and data.names["t"] == list(TARGETS)
    assert data.names["ivt"][1] == "grasper,dissect,gallbladder" and len(data.names["ivt"]) == 100
    for index, video in enumerate(VIDEOS):
        frames, labels = parse_t45(t45, video)
        item = data[index]
        assert item["index"] == index and item["video"] == video
        assert item["target"].dtype == torch.float32 and item["target"].shape == (len(frames), 131)
        assert np.array_equal(frames, np.arange(len(frames)))
        assert np.array_equal(item["target"].numpy(), labels) and labels.sum() > 0
        stored = np.load(t45 / "features" / f"{video}.npy")
        assert item["features"].dtype == torch.float32 and item["features"].shape == (1, 8, len(frames))
        assert torch.equal(item["features"][0], torch.from_numpy(stored.T.copy()))
        paths = data.frame_paths(video)
        assert len(paths) == len(frames) and paths[0].name == "000000.png" and paths[-1].parent.name == video
    assert data.feature_dim == 8 and data[0]["features"] is data[0]["features"]


def test_component_channels_follow_the_mapping(t45):
    target = torch.cat(CholecT45(t45, videos=VIDEOS).targets).numpy().astype(bool)
    triplets = target[:, JOINT_SLICES["ivt"]]
    for component, column in (("i", 1), ("v", 2), ("t", 3)):
        one_hot = np.eye(COMPONENT_SIZES[component], dtype=bool)[BANK[:, column]]  # [100, n]
        implied = (triplets[:, :, None] & one_hot[None]).any(axis=1)
        assert np.array_equal(target[:, JOINT_SLICES[component]], implied)
    assert triplets.sum(axis=1).max() <= 2 and (triplets.sum(axis=1) == 0).any()


def test_cholect50_same_targets_as_cholect45(t45, t50):
    data45, data50 = CholecT45(t45, videos=VIDEOS), CholecT50(t50, videos=VIDEOS, features_dir="features")
    for a, b in zip(data45.targets, data50.targets, strict=True):
        assert torch.equal(a, b)
    assert data50.names == data45.names and np.array_equal(data50.mapping, BANK)
    assert torch.equal(data50[1]["features"], CholecT45(t45, videos=VIDEOS, features_dir="features")[1]["features"])
    assert len(data50.frame_paths("VID111")) == len(data50.targets[2])
    payload = json.loads((t50 / "labels/VID111.json").read_text())
    assert set(payload) == set(LABEL_KEYS) and payload["video"] == 111
    assert payload["num_frames"] == len(data50.targets[2])
    for frame, instances in payload["annotations"].items():
        for instance in instances:
            assert len(instance) == 15
            if instance[0] == -1:  # a frame without triplets keeps its phase
                assert instance[:14] == [-1] * 14 and instances == [instance]
            else:
                assert [instance[1], instance[7], instance[8]] == BANK[instance[0], 1:4].tolist()
            assert 0 <= instance[14] < 7
        assert data50.targets[2][int(frame), :100].sum() == sum(i[0] != -1 for i in instances)


def test_cholect50_null_fields_and_bad_instances(t50, tmp_path):
    root = write_cholect50_example(tmp_path, videos=["VID05"], frames=(6, 6), image_size=None)
    path = root / "labels/VID05.json"
    payload = json.loads(path.read_text())
    payload["annotations"]["0"] = [[-1, 2, 1.0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0]]  # instrument only
    path.write_text(json.dumps(payload))
    target = CholecT50(root, videos=["VID05"]).targets[0]
    assert target[0].nonzero().flatten().tolist() == [102]
    payload["annotations"]["0"] = [[3, 0, 1.0, -1, -1, -1, -1, 0]]
    path.write_text(json.dumps(payload))
    with pytest.raises(DatasetLayoutError, match="VID05.json, frame 0: instances must be lists of 15 values"):
        CholecT50(root, videos=["VID05"])
    payload["annotations"]["0"] = [[100] + [-1] * 14]
    path.write_text(json.dumps(payload))
    with pytest.raises(DatasetLayoutError, match=r"triplet id 100 \(field 0\) is not -1 or an id in 0\.\.99"):
        CholecT50(root, videos=["VID05"])
    del payload["annotations"]["3"]
    path.write_text(json.dumps(payload))
    with pytest.raises(DatasetLayoutError, match=r"without gaps; missing \[3\]"):
        CholecT50(root, videos=["VID05"])


def test_targets_without_features(t45):
    data = CholecT45(t45, videos=["VID02"])
    assert "features" not in data[0] and data.feature_dim is None and data.features_dir is None
    assert data.targets[0].shape == (len(parse_t45(t45, "VID02")[0]), 131)
    described = data.describe()
    assert described["variant"] == "CholecT45" and described["videos"] == 1 and described["features_dir"] is None
    assert described["split"] == "cv" and described["fold"] == 1 and described["subset"] == "test"


def test_missing_root_shows_layout_and_source(tmp_path):
    with pytest.raises(DatasetLayoutError) as error:
        CholecT45(tmp_path / "nowhere")
    message = str(error.value)
    assert "missing dataset root" in message and "expected layout" in message and "dict/maps.txt" in message
    assert "github.com/CAMMA-public/cholect45" in message
    with pytest.raises(DatasetLayoutError, match=r"(?s)labels/VID01\.json.*github\.com/CAMMA-public/cholect50"):
        CholecT50(tmp_path / "nowhere")
    assert CholecT50.default_root == "data/CholecT50" and CholecT45.default_root == "data/CholecT45"


def test_feature_length_mismatch_names_both_files(tmp_path):
    root = write_cholect45_example(tmp_path, videos=["VID01"], frames=(10, 10), feature_dim=4, image_size=None)
    np.save(root / "features/VID01.npy", np.zeros((9, 4), np.float32))
    with pytest.raises(DatasetLayoutError) as error:
        CholecT45(root, videos=["VID01"], features_dir="features")
    message = str(error.value)
    assert "features/VID01.npy has 9 frames" in message and "triplet/VID01.txt has 10 labelled frames" in message


def test_corrupt_feature_and_label_files_name_the_file(tmp_path):
    root = write_cholect45_example(tmp_path, videos=["VID01"], frames=(10, 10), feature_dim=4, image_size=None)
    features = root / "features/VID01.npy"
    features.write_bytes(features.read_bytes()[:-8])  # truncated copy: refused at construction, not mid-run
    with pytest.raises(DatasetLayoutError, match=r"truncated .npy file: \d+ bytes, but its header \(\(10, 4\)"):
        CholecT45(root, videos=["VID01"], features_dir="features")
    features.write_bytes(b"\x00" * 64)
    with pytest.raises(DatasetLayoutError, match="not a .npy file or a truncated one"):
        CholecT45(root, videos=["VID01"], features_dir="features")
    t50 = write_cholect50_example(tmp_path / "t50", videos=["VID01"], frames=(10, 10), image_size=None)
    (t50 / "labels/VID01.json").write_text('{"annotations": ')
    with pytest.raises(DatasetLayoutError) as error:
        CholecT50(t50, videos=["VID01"])
    assert "cannot read a CholecT50 label JSON file (JSONDecodeError" in str(error.value)
    assert str(t50 / "labels/VID01.json") in str(error.value)


def test_frame_paths_ignore_appledouble_files(tmp_path):
    root = write_cholect45_example(tmp_path, videos=["VID01"], frames=(5, 5), image_size=(4, 6))
    (root / "data/VID01/._000000.png").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork beside a frame
    data = CholecT45(root, videos=["VID01"])
    assert [path.name for path in data.frame_paths("VID01")] == [f"{k:06d}.png" for k in range(5)]


def test_frame_index_mismatch_names_both_files(tmp_path):
    root = write_cholect45_example(tmp_path, videos=["VID01"], frames=(10, 10), image_size=None)
    verb = root / "verb/VID01.txt"
    lines = verb.read_text().splitlines()
    lines[3] = "7" + lines[3][1:]
    verb.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"differ between .*triplet/VID01\.txt and .*verb/VID01\.txt: row 4 "
                                                 r"has frame 3 in the first and 7 in the second"):
        CholecT45(root, videos=["VID01"])
    verb.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"verb/VID01\.txt has 8 frames but .*triplet/VID01\.txt has 10"):
        CholecT45(root, videos=["VID01"])


def test_fingerprint_follows_label_files(tmp_path):
    root = write_cholect45_example(tmp_path, videos=["VID01", "VID02"], frames=(10, 12), image_size=None)
    before = CholecT45(root, videos=["VID01", "VID02"]).fingerprint()
    assert CholecT45(root, videos=["VID01", "VID02"]).fingerprint() == before
    assert CholecT45(root, videos=["VID02", "VID01"]).fingerprint() != before
    path = root / "target/VID02.txt"
    lines = path.read_text().splitlines()
    lines[0] = lines[0][:-1] + ("0" if lines[0].endswith("1") else "1")  # same size, other label
    path.write_text("\n".join(lines) + "\n")
    assert CholecT45(root, videos=["VID01", "VID02"]).fingerprint() != before


def test_generated_dataset_deterministic_reused_and_official_folds(tmp_path):
    params = dict(videos_per_fold=2, frames=(20, 30), feature_dim=6)
    first = GeneratedSurgicalVideos(**params, root=tmp_path / "one")
    second = GeneratedSurgicalVideos(**params, root=tmp_path / "two")
    assert first.videos == second.videos == ["VID79", "VID02"] and first.feature_dim == 6
    for i in range(len(first)):
        assert torch.equal(first[i]["features"], second[i]["features"])
        assert torch.equal(first[i]["target"], second[i]["target"])
    feature, marker = tmp_path / "one/features/VID79.npy", tmp_path / "one/generator.json"
    stamps = feature.stat().st_mtime_ns, marker.stat().st_mtime_ns
    train = GeneratedSurgicalVideos(**params, subset="train", root=tmp_path / "one")
    assert (feature.stat().st_mtime_ns, marker.stat().st_mtime_ns) == stamps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two"]  # no staging folder left
    folds = cv_folds("CholecT45")
    assert train.videos == [v for k in (2, 3, 4, 5) for v in folds[k][:2]] and not set(train.videos) & set(first.videos)
    test3 = GeneratedSurgicalVideos(**params, fold=3, root=tmp_path / "one")
    assert test3.videos == list(folds[3][:2])
    with pytest.raises(ValueError, match="generator.json"):
        GeneratedSurgicalVideos(**{**params, "seed": 1}, root=tmp_path / "one")
    with pytest.raises(ValueError, match="does not contain the challenge"):
        GeneratedSurgicalVideos(**params, split="challenge", root=tmp_path / "one")


def test_generated_dataset_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "results"))
    data = GeneratedSurgicalVideos(videos_per_fold=1, frames=(20, 24), feature_dim=4)
    root = tmp_path / "results" / "datasets"
    assert [p.name for p in root.iterdir()] == [data.root.name] and data.root.name.startswith("generated_surgical-")
    assert data.describe()["generator"]["videos_per_fold"] == 1 and len(data) == 1
    assert DATASETS.build(dict(type="GeneratedSurgicalVideos", videos_per_fold=1, frames=(20, 24), feature_dim=4,
                               subset="train")).root == data.root
    assert len(list(root.iterdir())) == 1
