"""FaceForensics++ and Celeb-DF v2 frame readers on tiny mp4 trees in the official layouts (face_forgery_fixture)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from face_forgery_fixture import (BOXLESS_FRAMES, CELEBDF_TEST, SQUARE, SQUARE_Y0, bright_box, decode_all,
                                  face_box, fake_detector, square_x0, video_colour, write_celebdf, write_ffpp,
                                  write_video)

from bench.data import DatasetLayoutError
from bench.datasets import face_forgery
from bench.datasets.face_forgery import (CelebDFv2, FaceForensicsPP, center_square, enlarged_square, frame_indices,
                                         celebdf_videos, nearest_box, read_celebdf_test_list, sample_frames)
from bench.registry import DATASETS

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


@pytest.fixture(scope="module")
def ffpp_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ffpp(tmp_path_factory.mktemp("ffpp"))


@pytest.fixture(scope="module")
def celebdf_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_celebdf(tmp_path_factory.mktemp("celebdf"))


def ffpp(root: Path, tmp_path: Path, **options) -> FaceForensicsPP:
    """The test split, 3 frames per video, 40 x 40 crops, cached under ``tmp_path`` (the fixture stays shared)."""
    return FaceForensicsPP(root, **{"frames_per_video": 3, "size": 40, "cache_dir": tmp_path / "cache", **options})


def ids(data) -> list[str]:
    return [data.sample_id(i) for i in range(len(data))]


def as_uint8(image: torch.Tensor) -> np.ndarray:
    """An item's image back to RGB uint8 [H, W, 3] (the PNG's bytes, exactly)."""
    return (image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def expected_crop(frame: np.ndarray, region: tuple[int, int, int], size: int) -> np.ndarray:
    x, y, side = region
    return cv2.resize(np.ascontiguousarray(frame[y:y + side, x:x + side]), (size, size),
                      interpolation=cv2.INTER_LINEAR)


def official_square(box, width: int, height: int, scale: float = 1.3) -> tuple[int, int, int]:
    """FF++'s get_boundingbox, written out as in detect_from_video.py (integer box corners)."""
    x1, y1, x2, y2 = box
    size_bb = int(max(x2 - x1, y2 - y1) * scale)
    center_x, center_y = (x1 + x2) // 2, (y1 + y2) // 2
    x1 = max(int(center_x - size_bb // 2), 0)
    y1 = max(int(center_y - size_bb // 2), 0)
    size_bb = min(width - x1, size_bb)
    size_bb = min(height - y1, size_bb)
    return x1, y1, size_bb


def test_frame_indices_rule():
    assert frame_indices(6, 3) == [0, 2, 5]  # linspace 0, 2.5, 5: 2.5 rounds half to even
    assert frame_indices(8, 3) == [0, 4, 7]  # 3.5 rounds to 4
    assert frame_indices(10, 4) == [0, 3, 6, 9]
    assert frame_indices(300, 32) == [int(i) for i in np.round(np.linspace(0, 299, 32))]
    assert len(set(frame_indices(33, 32))) == 32
    assert frame_indices(5, 5) == frame_indices(5, 8) == [0, 1, 2, 3, 4]
    assert frame_indices(7, 1) == [0] and frame_indices(0, 4) == []


def test_enlarged_square_is_ffpp_rule():
    width, height = 48, 40
    assert enlarged_square([20, 10, 32, 22], width, height, 1.3) == (19, 9, 15)  # inside: int(12 * 1.3) = 15
    assert enlarged_square([40, 30, 48, 40], width, height, 1.3) == (38, 29, 10)  # shrinks at the right edge
    assert enlarged_square([0, 0, 6, 6], width, height, 1.3) == (0, 0, 7)  # top-left clamped at 0
    assert enlarged_square([10, 10, 10, 10], width, height, 1.3) is None  # empty box: no face
    for box in ([3, 5, 30, 39], [1, 0, 47, 20], [30, 2, 44, 38], [5, 5, 9, 25]):
        assert enlarged_square(box, width, height, 1.3) == official_square(box, width, height)
        x, y, side = enlarged_square(box, width, height, 1.3)
        assert x >= 0 and y >= 0 and x + side <= width and y + side <= height
    assert center_square(48, 40) == (4, 0, 40) and center_square(30, 50) == (0, 10, 30)


def test_nearest_box_rule():
    boxes = {0: (0, 0, 1, 1), 2: (2, 2, 3, 3), 4: (4, 4, 5, 5), 9: (9, 9, 10, 10)}
    assert nearest_box(boxes, 2) == ((2, 2, 3, 3), 2)
    assert nearest_box(boxes, 1)[1] == 0 and nearest_box(boxes, 3)[1] == 2  # ties: the earlier frame
    assert nearest_box(boxes, 7)[1] == 9 and nearest_box(boxes, 100)[1] == 9
    assert nearest_box({}, 3) is None


def test_ffpp_test_split_counts_labels_and_ids(ffpp_root, tmp_path):
    data = DATASETS.build(dict(type="FaceForensicsPP", root=str(ffpp_root), frames_per_video=3, size=40,
                               cache_dir=str(tmp_path / "cache")))
    real = ["original/002", "original/003"]
    fake = [f"{m}/{n}" for m in METHODS for n in ("002_003", "003_002")]
    assert [v.video_id for v in data.videos] == real + fake
    assert data.video_targets() == {**{v: 0 for v in real}, **{v: 1 for v in fake}}
    assert len(data) == 10 * 3
    targets = [int(data[i]["target"]) for i in range(len(data))]
    assert targets.count(0) == 6 and targets.count(1) == 24  # 1:4
    sample_ids = ids(data)
    assert len(set(sample_ids)) == len(sample_ids)
    assert sample_ids[:3] == ["ffpp-c23-original-002-f0000", "ffpp-c23-original-002-f0002",
                              "ffpp-c23-original-002-f0005"]
    assert "ffpp-c23-Deepfakes-002_003-f0005" in sample_ids and "ffpp-c23-NeuralTextures-003_002-f0000" in sample_ids
    item = data[7]
    assert set(item) == {"image", "target", "video_id", "frame_index"}
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, 40, 40)
    assert 0.0 <= float(item["image"].min()) and float(item["image"].max()) <= 1.0
    assert item["target"].dtype == torch.int64 and int(item["target"]) == 1
    assert item["video_id"] == "Deepfakes/002_003" and item["frame_index"] == 2
    assert ids(ffpp(ffpp_root, tmp_path)) == sample_ids  # stable: a second construction gives the same ids

    train = ffpp(ffpp_root, tmp_path, split="train", manipulations=["Face2Face"])
    assert [v.video_id for v in train.videos] == ["original/000", "original/001", "Face2Face/000_001",
                                                  "Face2Face/001_000"]


def test_ffpp_oversample_real_is_one_to_one(ffpp_root, tmp_path):
    data = ffpp(ffpp_root, tmp_path, balance="oversample_real")
    targets = [int(data[i]["target"]) for i in range(len(data))]
    assert len(data) == 48 and targets.count(0) == targets.count(1) == 24
    sample_ids = ids(data)
    assert len(set(sample_ids)) == 48
    assert sample_ids[:4] == ["ffpp-c23-original-002-f0000-r0", "ffpp-c23-original-002-f0002-r0",
                              "ffpp-c23-original-002-f0005-r0", "ffpp-c23-original-002-f0000-r1"]
    assert "ffpp-c23-original-003-f0005-r3" in sample_ids and "ffpp-c23-FaceSwap-002_003-f0002" in sample_ids
    assert torch.equal(data[0]["image"], data[3]["image"])  # a repeat is the same frame
    described = data.describe()
    assert described["real_repeats"] == 4 and described["real_samples"] == described["fake_samples"] == 24
    assert described["real_frames"] == 6 and described["fake_frames"] == 24


def test_decoded_frames_are_the_sampled_ones(ffpp_root, tmp_path):
    """Centre crop of a 48 x 40 frame at size 40 is the frame without its 4-pixel side bands, unresized."""
    data = ffpp(ffpp_root, tmp_path)
    for index in range(len(data)):
        item = data[index]
        image = as_uint8(item["image"])
        frame = item["frame_index"]
        assert frame in (0, 2, 5)
        left = square_x0(frame) - 4  # frame 0's square starts 2 pixels into the 4-pixel band cut off
        assert bright_box(image) == [max(left, 0), SQUARE_Y0, left + SQUARE, SQUARE_Y0 + SQUARE]
        background = image[38, 1].astype(int)  # a corner, far from the square and the face patch
        assert np.abs(background - video_colour(item["video_id"])).max() <= 8, item["video_id"]
    video_file = ffpp_root / "manipulated_sequences/FaceSwap/c23/videos/003_002.mp4"
    reference = decode_all(video_file)
    position = [data.sample_id(i) for i in range(len(data))].index("ffpp-c23-FaceSwap-003_002-f0005")
    assert np.array_equal(as_uint8(data[position]["image"]), expected_crop(reference[5], (4, 0, 40), 40))
    assert data.describe()["no_face_frames"] == 0 and data.describe()["box_source"]["kind"] == "none (centre square)"


def test_box_crops_follow_the_box_file(ffpp_root, tmp_path):
    """Every frame (frames_per_video 6): the box of the file, enlarged 1.3 times; boxless frames take the
    nearest frame's box (1 -> 0, 3 -> 2 on ties)."""
    data = ffpp(ffpp_root, tmp_path, manipulations=["Deepfakes"], frames_per_video=6, size=24, crop="boxes",
                boxes=ffpp_root / "boxes.json")
    reference = decode_all(ffpp_root / "original_sequences/youtube/c23/videos/003.mp4")
    box_frame = {0: 0, 1: 0, 2: 2, 3: 2, 4: 4, 5: 5}
    for index in range(len(data)):
        item = data[index]
        if item["video_id"] != "original/003":
            continue
        frame = item["frame_index"]
        region = official_square(face_box(box_frame[frame]), 48, 40)
        assert np.array_equal(as_uint8(item["image"]), expected_crop(reference[frame], region, 24)), frame
    manifest = data.manifests[1]
    assert [f["box_frame"] for f in manifest["frames"]] == [box_frame[i] for i in range(6)]
    assert manifest["frames"][4]["region"] == list(official_square(face_box(4), 48, 40)) == [13, 13, 26]
    described = data.describe()
    assert described["borrowed_box_frames"] == len(BOXLESS_FRAMES) * 4  # 2 real and 2 fake videos
    assert described["no_face_frames"] == 0 and described["crop_scale"] == 1.3
    assert described["box_source"]["path"] == str(ffpp_root / "boxes.json")

    wider = ffpp(ffpp_root, tmp_path, manipulations=["Deepfakes"], frames_per_video=6, size=24, crop="boxes",
                 boxes=ffpp_root / "boxes.json", crop_scale=2.0)
    assert wider.manifests[1]["frames"][4]["region"] == list(official_square(face_box(4), 48, 40, 2.0))
    assert wider.cache_folder != data.cache_folder


def test_video_without_boxes_falls_back_to_centre(ffpp_root, tmp_path):
    boxes = json.loads((ffpp_root / "boxes.json").read_text())
    del boxes["original/002"]
    data = ffpp(ffpp_root, tmp_path, manipulations=["Deepfakes"], crop="boxes", boxes=boxes)
    assert [f["fallback"] for f in data.manifests[0]["frames"]] == [True] * 3
    assert data.manifests[0]["frames"][0]["region"] == [4, 0, 40]
    assert data.describe()["no_face_frames"] == 3


def test_detector_crops_and_counts_frames_without_a_face(ffpp_root, tmp_path):
    data = ffpp(ffpp_root, tmp_path, manipulations=["Face2Face"], size=32, crop="detector",
                detector="face_forgery_fixture:fake_detector")
    reference = decode_all(ffpp_root / "manipulated_sequences/Face2Face/c23/videos/002_003.mp4")
    for index in range(len(data)):
        item = data[index]
        if item["video_id"] != "Face2Face/002_003":
            continue
        frame = reference[item["frame_index"]]
        box = fake_detector(frame)
        region = (4, 0, 40) if box is None else official_square(box, 48, 40)
        assert (box is None) == (item["frame_index"] == 5)
        assert np.array_equal(as_uint8(item["image"]), expected_crop(frame, region, 32))
    described = data.describe()
    assert described["no_face_frames"] == 4  # frame 5 of each of the 4 videos
    assert described["box_source"] == {"kind": "detector", "detector": "face_forgery_fixture:fake_detector"}


def test_cache_is_reused_and_rebuilt_when_settings_or_video_change(tmp_path, monkeypatch):
    root = write_ffpp(tmp_path / "ffpp", manipulations=["Deepfakes"])
    first = FaceForensicsPP(root, manipulations=["Deepfakes"], frames_per_video=3, size=24)
    assert first.cache_folder.parent == root / "bench_frames" / "FaceForensicsPP"
    manifest = json.loads((first.cache_folder / "c23/original/002/manifest.json").read_text())
    assert manifest["settings"]["frames_per_video"] == 3 and manifest["settings"]["opencv"] == cv2.__version__
    assert manifest["video"]["file"] == "original_sequences/youtube/c23/videos/002.mp4"
    assert manifest["frame_count"] == 6 and [f["index"] for f in manifest["frames"]] == [0, 2, 5]
    assert first.built_videos == 4

    real_decode = face_forgery.decode_frames
    calls: list[Path] = []

    def counting_decode(path, wanted):
        calls.append(Path(path))
        return real_decode(path, wanted)

    def failing_decode(path, wanted):
        raise AssertionError(f"decoded {path} although its frames are cached")

    monkeypatch.setattr(face_forgery, "decode_frames", failing_decode)
    again = FaceForensicsPP(root, manipulations=["Deepfakes"], frames_per_video=3, size=24)
    assert again.fingerprint() == first.fingerprint() and again.built_videos == 0
    assert torch.equal(again[4]["image"], first[4]["image"])

    monkeypatch.setattr(face_forgery, "decode_frames", counting_decode)
    other = FaceForensicsPP(root, manipulations=["Deepfakes"], frames_per_video=2, size=24)
    assert other.cache_folder != first.cache_folder and len(calls) == 4 and len(other) == 8
    assert other.fingerprint() != first.fingerprint()

    calls.clear()
    video = root / "manipulated_sequences/Deepfakes/c23/videos/003_002.mp4"
    write_video(video, "changed", frames=6)
    os.utime(video, ns=(1, 1))
    rebuilt = FaceForensicsPP(root, manipulations=["Deepfakes"], frames_per_video=3, size=24)
    assert calls == [video] and rebuilt.cache_folder == first.cache_folder
    assert rebuilt.fingerprint() != first.fingerprint()
    changed = [rebuilt[i] for i in range(len(rebuilt)) if rebuilt[i]["video_id"] == "Deepfakes/003_002"][0]
    assert np.abs(as_uint8(changed["image"])[23, 0].astype(int) - video_colour("changed")).max() <= 8

    calls.clear()
    (first.cache_folder / "c23/original/003/f000002.png").unlink()  # an incomplete entry is rebuilt too
    FaceForensicsPP(root, manipulations=["Deepfakes"], frames_per_video=3, size=24)
    assert calls == [root / "original_sequences/youtube/c23/videos/003.mp4"]
    leftovers = [p for p in first.cache_folder.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]
    assert leftovers == []


@pytest.mark.parametrize("reported", [10, 3, 0, -1])
def test_frame_count_comes_from_decoding_not_the_header(tmp_path, monkeypatch, reported):
    """A header that over- or under-counts (or cannot be read) does not change which frames are kept."""
    video = write_video(tmp_path / "v.mp4", "v", frames=6)
    monkeypatch.setattr(face_forgery, "reported_frame_count", lambda path: reported)
    sampled = sample_frames(video, 3)
    assert sampled.indices == [0, 2, 5] and sampled.frame_count == 6 and sampled.reported_frame_count == reported
    reference = decode_all(video)
    assert all(np.array_equal(sampled.frames[i], reference[i]) for i in sampled.indices)


def test_undecodable_video_is_a_layout_error(tmp_path):
    root = write_ffpp(tmp_path / "ffpp", manipulations=["Deepfakes"])
    broken = root / "manipulated_sequences/Deepfakes/c23/videos/003_002.mp4"
    broken.write_bytes(b"not a video" * 100)
    with pytest.raises(DatasetLayoutError, match="003_002.mp4.*OpenCV decoded 0 frames"):
        FaceForensicsPP(root, manipulations=["Deepfakes"], frames_per_video=2, size=8)


def test_determinism_across_caches_and_workers(ffpp_root, tmp_path):
    one = ffpp(ffpp_root, tmp_path / "a", manipulations=["FaceSwap"])
    two = ffpp(ffpp_root, tmp_path / "b", manipulations=["FaceSwap"], workers=3)
    assert one.fingerprint() == two.fingerprint() and ids(one) == ids(two)
    for index in range(len(one)):
        assert torch.equal(one[index]["image"], two[index]["image"])


def test_celebdf_labels_invert_the_test_list_and_splits_are_disjoint(celebdf_root, tmp_path):
    lines = (celebdf_root / "List_of_testing_videos.txt").read_text().splitlines()
    assert lines[:2] == ["1 YouTube-real/00001.mp4", "0 Celeb-synthesis/id1_id2_0000.mp4"]  # 1 = REAL in the file
    assert read_celebdf_test_list(celebdf_root / "List_of_testing_videos.txt") == {
        "YouTube-real/00001.mp4": 0, "Celeb-synthesis/id1_id2_0000.mp4": 1, "Celeb-real/id2_0000.mp4": 0,
        "Celeb-synthesis/id2_id0_0000.mp4": 1}
    test = CelebDFv2(celebdf_root, frames_per_video=2, size=24, cache_dir=tmp_path)
    assert [v.video_id for v in test.videos] == list(CELEBDF_TEST)
    assert test.video_targets() == {"YouTube-real/00001": 0, "Celeb-synthesis/id1_id2_0000": 1,
                                    "Celeb-real/id2_0000": 0, "Celeb-synthesis/id2_id0_0000": 1}
    assert test.sample_id(2) == "celebdf-Celeb-synthesis-id1_id2_0000-f0000"
    assert test[2]["video_id"] == "Celeb-synthesis/id1_id2_0000" and int(test[2]["target"]) == 1

    train = DATASETS.build(dict(type="CelebDFv2", root=str(celebdf_root), split="train", frames_per_video=2,
                                size=24, cache_dir=str(tmp_path)))
    train_videos = {v.video_id for v in train.videos}
    assert train_videos.isdisjoint(v.video_id for v in test.videos)
    assert len(train_videos) + len(test.videos) == 10
    assert [v.video_id for v in train.videos][:2] == ["Celeb-real/id0_0000", "Celeb-real/id1_0000"]
    assert train.describe()["real_videos"] == 3 and train.describe()["fake_videos"] == 3
    assert set(ids(train)).isdisjoint(ids(test))

    balanced = CelebDFv2(celebdf_root, frames_per_video=2, size=24, cache_dir=tmp_path, balance="oversample_real")
    assert balanced.real_repeats == 1  # 2 fake / 2 real videos
    assert balanced.sample_id(0) == "celebdf-YouTube-real-00001-f0000-r0"


def test_celebdf_listing_skips_appledouble_files(tmp_path):
    for folder in ("Celeb-real", "Celeb-synthesis", "YouTube-real"):
        (tmp_path / folder).mkdir()
    (tmp_path / "Celeb-real/id0_0000.mp4").touch()
    (tmp_path / "Celeb-real/._id0_0000.mp4").touch()  # macOS resource fork: would be read as a real video
    (tmp_path / "Celeb-synthesis/id0_id1_0000.mp4").touch()
    assert celebdf_videos(tmp_path) == ["Celeb-real/id0_0000.mp4", "Celeb-synthesis/id0_id1_0000.mp4"]


def test_corrupt_cached_frame_is_a_layout_error_naming_it(ffpp_root, tmp_path):
    data = ffpp(ffpp_root, tmp_path, manipulations=("Deepfakes",))
    v, position, _ = data.samples[0]
    path = data.cache_folder / data.videos[v].cache_key / data.manifests[v]["frames"][position]["file"]
    path.write_bytes(b"\x89PNG broken")
    with pytest.raises(DatasetLayoutError) as error:
        data[0]
    message = str(error.value)
    assert message.startswith("FaceForensicsPP: cannot read a cached frame PNG (construct the dataset again")
    assert str(path) in message


def test_celebdf_rejects_a_list_whose_labels_disagree_with_folders(tmp_path):
    root = write_celebdf(tmp_path / "celebdf", videos={"Celeb-real": ("id0_0000",), "YouTube-real": (),
                                                       "Celeb-synthesis": ("id0_id1_0000",)},
                         test=("Celeb-real/id0_0000",))
    (root / "List_of_testing_videos.txt").write_text("0 Celeb-real/id0_0000.mp4\n")  # 0 means FAKE in this file
    with pytest.raises(DatasetLayoutError, match="disagrees with the folder"):
        CelebDFv2(root, frames_per_video=1, size=8)


def test_missing_data_errors_name_the_path_layout_and_source(ffpp_root, celebdf_root, tmp_path):
    with pytest.raises(DatasetLayoutError) as error:
        FaceForensicsPP(tmp_path / "nowhere", frames_per_video=1)
    message = str(error.value)
    assert str(tmp_path / "nowhere" / "splits" / "test.json") in message
    assert "original_sequences/youtube/<compression>/videos" in message and "-c c23" in message
    assert "Google form" in message

    with pytest.raises(DatasetLayoutError, match="original videos directory"):
        FaceForensicsPP(ffpp_root, compression="c40", frames_per_video=1, cache_dir=tmp_path)
    with pytest.raises(DatasetLayoutError, match="val.json"):
        FaceForensicsPP(ffpp_root, split="val", frames_per_video=1, cache_dir=tmp_path)
    root = write_ffpp(tmp_path / "partial", manipulations=["Deepfakes"])
    (root / "manipulated_sequences/Deepfakes/c23/videos/002_003.mp4").unlink()
    with pytest.raises(DatasetLayoutError, match="002_003.mp4"):
        FaceForensicsPP(root, manipulations=["Deepfakes"], frames_per_video=1)
    (root / "splits/test.json").write_text('{"pairs": []}')
    with pytest.raises(DatasetLayoutError, match="pairs"):
        FaceForensicsPP(root, manipulations=["Deepfakes"], frames_per_video=1)

    empty = tmp_path / "celeb"
    (empty / "Celeb-real").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError) as error:
        CelebDFv2(empty)
    message = str(error.value)
    assert str(empty / "Celeb-synthesis") in message and "List_of_testing_videos.txt" in message
    assert "celeb-deepfakeforensics" in message


def test_bad_options_are_value_errors_with_the_choices(ffpp_root, tmp_path):
    with pytest.raises(ValueError, match="Did you mean 'Face2Face'.*Choices: .*FaceShifter"):
        FaceForensicsPP(ffpp_root, manipulations=["Face2face"])
    with pytest.raises(ValueError, match=r"one of \('raw', 'c23', 'c40'\)"):
        FaceForensicsPP(ffpp_root, compression="c30")
    with pytest.raises(ValueError, match="not in the official pair splits"):
        FaceForensicsPP(ffpp_root, manipulations=["DeepFakeDetection"])
    with pytest.raises(ValueError, match="crop must be one of"):
        ffpp(ffpp_root, tmp_path, crop="face")
    with pytest.raises(ValueError, match="boxes= exactly with crop='boxes'"):
        ffpp(ffpp_root, tmp_path, crop="boxes")
    with pytest.raises(ValueError, match="balance must be one of"):
        ffpp(ffpp_root, tmp_path, balance="undersample")
    with pytest.raises(ValueError, match="split must be one of"):
        CelebDFv2(ffpp_root, split="val")
    # FaceShifter is accepted by name; this fixture has no FaceShifter videos, so the layout check names the folder
    with pytest.raises(DatasetLayoutError, match="FaceShifter videos directory"):
        ffpp(ffpp_root, tmp_path, manipulations=["FaceShifter"])


def test_describe_records_the_protocol(ffpp_root, tmp_path):
    data = ffpp(ffpp_root, tmp_path, manipulations=["Deepfakes", "NeuralTextures"], crop="boxes",
                boxes=ffpp_root / "boxes.json", crop_scale=1.25)
    described = data.describe()
    assert described["type"] == "FaceForensicsPP" and described["num_samples"] == 18
    assert described["split"] == "test" and described["compression"] == "c23"
    assert described["manipulations"] == ["Deepfakes", "NeuralTextures"]
    assert described["frames_per_video"] == 3 and described["size"] == 40
    assert described["crop"] == "boxes" and described["crop_scale"] == 1.25
    assert described["interpolation"] == "cv2.INTER_LINEAR" and "get_boundingbox" in described["box_rule"]
    assert described["box_source"]["kind"] == "boxes" and len(described["box_source"]["sha256"]) == 64
    assert described["balance"] == "none" and described["real_repeats"] == 1
    assert (described["real_videos"], described["fake_videos"]) == (2, 4)
    assert (described["real_frames"], described["fake_frames"]) == (6, 12)
    assert described["label_convention"] == "target 1 = fake, 0 = real"
    assert Path(described["frame_cache"]) == data.cache_folder
    settings = json.loads((data.cache_folder / "settings.json").read_text())
    assert settings["crop_scale"] == 1.25 and settings["size"] == 40

    celeb = CelebDFv2(write_celebdf(tmp_path / "celeb"), frames_per_video=2, size=16)
    assert "1 = real, 0 = fake" in celeb.describe()["test_list_labels"]
    assert celeb.describe()["crop_scale"] is None  # centre crop: no scale applies


# --- GeneratedForgeryVideos: the demo's forgery proxy -------------------------------------------------------------

def test_upsampling_artifact_leaves_the_polyphase_checkerboard():
    flat = torch.full((1, 3, 8, 8), 0.5)
    out = face_forgery.upsampling_artifact(flat)[0, :, 2:6, 2:6]  # interior: no padding at play
    torch.testing.assert_close(out[:, 0::2, 0::2], torch.full((3, 2, 2), 0.4))  # kernel centre 4/5
    torch.testing.assert_close(out[:, 0::2, 1::2], torch.full((3, 2, 2), 0.6))  # 3/5 + 3/5 across a row
    torch.testing.assert_close(out[:, 1::2, 0::2], torch.full((3, 2, 2), 0.6))
    torch.testing.assert_close(out[:, 1::2, 1::2], torch.full((3, 2, 2), 0.4))  # four corners of 1/5
    assert out.mean().item() == pytest.approx(0.5)  # brightness kept


def nyquist_energy(images: torch.Tensor) -> float:
    """Mean magnitude of the (pi, pi) Fourier coefficient: where a period-2 checkerboard lives."""
    return torch.fft.fft2(images - images.mean(dim=(-2, -1), keepdim=True))[..., 8, 8].abs().mean().item()


def test_generated_forgery_videos_are_balanced_deterministic_and_fakes_carry_the_artifact():
    options = dict(videos=12, frames_per_video=3, size=16, noise=0.0, artifact_strength=1.0)
    data = face_forgery.GeneratedForgeryVideos("train", **options)
    assert len(data) == 36
    item = data[4]
    assert item["image"].shape == (3, 16, 16) and item["video_id"] == "train/0001" and item["frame_index"] == 1
    targets = data.video_targets()
    assert sum(targets.values()) == 6 and len(targets) == 12
    assert all(int(data[i]["target"]) == targets[data[i]["video_id"]] for i in range(len(data)))
    assert data.sample_id(4) == "proxy-train-0001-f0001"
    assert face_forgery.GeneratedForgeryVideos("train", **options).fingerprint() == data.fingerprint()
    assert face_forgery.GeneratedForgeryVideos("train", **{**options, "seed": 1}).fingerprint() != data.fingerprint()
    fake = torch.stack([data[i]["image"] for i in range(len(data)) if data[i]["target"] == 1])
    real = torch.stack([data[i]["image"] for i in range(len(data)) if data[i]["target"] == 0])
    assert nyquist_energy(fake) > 5 * nyquist_energy(real)
    described = data.describe()
    assert (described["real_videos"], described["fake_videos"], described["size"]) == (6, 6, 16)


def test_generated_forgery_splits_differ_and_bad_settings_say_why():
    train = face_forgery.GeneratedForgeryVideos("train", videos=4, size=16)
    test = face_forgery.GeneratedForgeryVideos("test", videos=4, size=16)
    assert train.fingerprint() != test.fingerprint() and test.video_targets().keys() == {f"test/{v:04d}" for v in
                                                                                          range(4)}
    with pytest.raises(ValueError, match="even"):
        face_forgery.GeneratedForgeryVideos("train", size=15)
    with pytest.raises(ValueError, match="too narrow"):
        face_forgery.GeneratedForgeryVideos("val", size=64, source_scale=0.25)
    with pytest.raises(ValueError, match="split"):
        face_forgery.GeneratedForgeryVideos("dev")
