"""Video I/O (write_mp4 / read_video with OpenCV, mp4v) and the WebVid-style reader on tiny fixture MP4s.

mp4v is lossy. Measured on these fixtures (OpenCV 4, 4:2:0 chroma): flat-colour frames come back within 4 grey
levels (max abs difference), frames with a white square on a colour within 3.3 on average per frame (max 53 at
the square's coloured edges, where chroma is subsampled); the tolerances below leave a margin over those numbers.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.data import DatasetLayoutError
from bench.datasets.video import WebVidVideos, read_video, sampled_indices, write_mp4
from bench.registry import DATASETS

FLAT_MAX_ERROR = 6  # measured 4
SQUARE_MEAN_ERROR = 5.0  # measured 3.3 (worst frame's mean abs difference)


def clip(frames: int = 9, height: int = 32, width: int = 48, tint: int = 0) -> np.ndarray:
    """RGB uint8 [T, H, W, 3]: a colour that changes per frame and an 8 x 8 white square moving 3 px per frame."""
    video = np.zeros((frames, height, width, 3), np.uint8)
    for t in range(frames):
        video[t] = (40 + 10 * t, 100 + tint, 200 - 10 * t)
        video[t, 8:16, 4 + 3 * t:12 + 3 * t] = 255
    return video


def square_left(frame: np.ndarray) -> int:
    """Left edge of the white square: the first column whose rows 8..15 are bright in every channel."""
    bright = (frame[8:16] > 200).all(axis=2).all(axis=0)
    return int(np.flatnonzero(bright)[0])


def test_round_trip_keeps_shape_fps_count_and_pixels_within_codec_error(tmp_path: Path) -> None:
    video = clip()
    path = write_mp4(tmp_path / "a.mp4", video, 12.0)
    frames, fps, indices = read_video(path)
    assert frames.dtype == np.uint8 and frames.shape == video.shape
    assert fps == 12.0 and indices == list(range(9))
    error = np.abs(frames.astype(int) - video.astype(int))
    assert error.reshape(9, -1).mean(axis=1).max() <= SQUARE_MEAN_ERROR
    assert [square_left(f) for f in frames] == [4 + 3 * t for t in range(9)]  # frame order and RGB (not BGR)
    assert frames[0, 20:, :, 2].mean() - frames[0, 20:, :, 0].mean() > 140  # RGB, not BGR: (40, 100, 200) at t=0

    flat = np.broadcast_to(video[:, :1, :1], video.shape).copy()
    frames, _, _ = read_video(write_mp4(tmp_path / "flat.mp4", torch.from_numpy(flat), 25))
    assert np.abs(frames.astype(int) - flat.astype(int)).max() <= FLAT_MAX_ERROR
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_write_mp4_rejects_bad_frames_without_leaving_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"even height and width, got 17 x 23"):
        write_mp4(tmp_path / "odd.mp4", np.zeros((2, 17, 23, 3), np.uint8), 8)
    with pytest.raises(ValueError, match=r"RGB uint8 \[T, H, W, 3\].*float32 \(2, 16, 16, 3\)"):
        write_mp4(tmp_path / "f.mp4", np.zeros((2, 16, 16, 3), np.float32), 8)
    with pytest.raises(ValueError, match="fps must be a positive number, got 0"):
        write_mp4(tmp_path / "z.mp4", np.zeros((2, 16, 16, 3), np.uint8), 0)
    with pytest.raises(ValueError, match=r"must end in \.mp4"):
        write_mp4(tmp_path / "a.avi", np.zeros((2, 16, 16, 3), np.uint8), 8)
    assert list(tmp_path.iterdir()) == []


def test_sampling_indices() -> None:
    assert sampled_indices(9) == list(range(9))
    assert sampled_indices(9, 4) == [0, 3, 5, 8]  # linspace 0, 2.67, 5.33, 8
    assert sampled_indices(6, 3) == [0, 2, 5]  # 2.5 rounds half to even
    assert sampled_indices(3, 5) == [0, 1, 2]
    assert sampled_indices(9, None, "stride", 2) == [0, 2, 4, 6, 8]
    assert sampled_indices(9, 3, "stride", 3) == [0, 3, 6]
    assert sampled_indices(9, 4, "stride", 3) == [0, 3, 6]
    assert sampled_indices(0, 4) == [] and sampled_indices(-1, 4, "stride", 2) == []
    with pytest.raises(ValueError, match="stride=2 applies to sampling='stride' only"):
        sampled_indices(9, 4, "uniform", 2)
    with pytest.raises(ValueError, match=r"sampling must be one of \('uniform', 'stride'\), got 'random'"):
        sampled_indices(9, 4, "random")
    with pytest.raises(ValueError, match="frames must be a positive integer or None, got 0"):
        sampled_indices(9, 0)


def test_read_video_decodes_the_sampled_frames(tmp_path: Path) -> None:
    path = write_mp4(tmp_path / "a.mp4", clip(), 10)
    frames, fps, indices = read_video(path, frames=4)
    assert indices == [0, 3, 5, 8] and frames.shape == (4, 32, 48, 3) and fps == 10.0
    assert [square_left(f) for f in frames] == [4 + 3 * t for t in indices]
    frames, _, indices = read_video(path, frames=3, sampling="stride", stride=4)
    assert indices == [0, 4, 8] and [square_left(f) for f in frames] == [4, 16, 28]
    with pytest.raises(FileNotFoundError, match="nothing.mp4: no such video file"):
        read_video(tmp_path / "nothing.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="OpenCV decoded 0 frames"):
        read_video(tmp_path / "broken.mp4")


def write_webvid(root: Path, rows: list[tuple[str, str, str]], name: str = "results_2M_val.csv",
                 skip: tuple[str, ...] = ()) -> Path:
    """A WebVid tree: the results CSV (official header) and one clip per row except ``skip``; returns the CSV."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / name).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["videoid", "contentUrl", "duration", "page_dir", "name"])
        for number, (video_id, page_dir, caption) in enumerate(rows):
            writer.writerow([video_id, f"https://example.invalid/{video_id}.mp4", "PT00H00M09S", page_dir, caption])
            if video_id not in skip:
                write_mp4(root / "videos" / page_dir / f"{video_id}.mp4", clip(frames=9 + number, tint=20 * number),
                          25)
    return root / name


ROWS = [("1001", "000001_000050", "A cat, on a sofa"), ("1002", "000001_000050", "Waves"),
        ("2001", "000051_000100", 'Sky "timelapse"')]


def test_webvid_reader_items_and_description(tmp_path: Path) -> None:
    captions = write_webvid(tmp_path / "webvid", ROWS)
    data = DATASETS.build({"type": "WebVidVideos", "root": str(tmp_path / "webvid"), "frames": 4})
    assert len(data) == 3 and [data.sample_id(i) for i in range(3)] == ["webvid-1001", "webvid-1002", "webvid-2001"]
    item = data[2]
    assert item["caption"] == 'Sky "timelapse"' and item["video_id"] == "2001" and item["fps"] == 25.0
    assert item["frames"].dtype == torch.uint8 and item["frames"].shape == (4, 32, 48, 3)
    assert item["frame_indices"].tolist() == [0, 3, 7, 10]  # 11 frames: linspace 0, 3.33, 6.67, 10
    assert data[0]["caption"] == "A cat, on a sofa"
    facts = data.describe()
    assert facts["captions"] == str(captions) and facts["frames"] == 4 and facts["sampling"] == "uniform"
    assert facts["listed_videos"] == 3 and facts["skipped_missing_videos"] == 0 and facts["size"] is None
    resized = WebVidVideos(tmp_path / "webvid", frames=2, sampling="stride", stride=3, size=(16, 24))
    assert resized[1]["frames"].shape == (2, 16, 24, 3) and resized[1]["frame_indices"].tolist() == [0, 3]
    assert resized.describe()["size"] == [16, 24] and resized.fingerprint() != data.fingerprint()
    assert data.fingerprint() == WebVidVideos(tmp_path / "webvid", frames=4).fingerprint()
    for size in (True, "16", (16,), (16, 0)):
        with pytest.raises(ValueError, match=r"size must be None, a positive int or \(height, width\) positive ints"):
            WebVidVideos(tmp_path / "webvid", size=size)


def test_webvid_missing_videos_name_the_layout_or_are_skipped_and_counted(tmp_path: Path) -> None:
    write_webvid(tmp_path / "w", ROWS, skip=("1002",))
    with pytest.raises(DatasetLayoutError) as error:
        WebVidVideos(tmp_path / "w")
    message = str(error.value)
    assert "1 of 3 listed videos have no file (videos/000001_000050/1002.mp4)" in message
    assert "<root>/videos/<page_dir>/<videoid>.mp4" in message and "withdrawn" in message
    data = WebVidVideos(tmp_path / "w", missing="skip", limit=1)
    assert [data.sample_id(i) for i in range(len(data))] == ["webvid-1001"]
    assert data.describe()["skipped_missing_videos"] == 1


def test_webvid_csv_errors_name_the_file(tmp_path: Path) -> None:
    root = tmp_path / "w"
    with pytest.raises(DatasetLayoutError, match="missing dataset root directory"):
        WebVidVideos(root)
    write_webvid(root, ROWS[:1])
    write_webvid(root, ROWS[1:2], name="results_10M_val.csv")
    with pytest.raises(DatasetLayoutError, match=r"2 results CSVs \(results_10M_val.csv, results_2M_val.csv\); "
                                                 "pass captions= to choose"):
        WebVidVideos(root)
    assert len(WebVidVideos(root, captions="results_10M_val.csv", frames=2)) == 1
    (root / "bad.csv").write_text("videoid,caption\n1,x\n")
    with pytest.raises(DatasetLayoutError, match=r"lacks the column\(s\) \['page_dir', 'name'\]"):
        WebVidVideos(root, captions="bad.csv")
    (root / "twice.csv").write_text("videoid,page_dir,name\n1001,000001_000050,a\n1001,000001_000050,b\n")
    with pytest.raises(DatasetLayoutError, match="line 3: videoid 1001 is listed twice"):
        WebVidVideos(root, captions="twice.csv")
    short = WebVidVideos(root, captions="results_2M_val.csv", frames=4, sampling="stride", stride=3)
    with pytest.raises(DatasetLayoutError, match=r"has 3 frames under sampling='stride' stride=3, fewer than "
                                                 r"frames=4; lower frames or stride\n  path: .*/1001.mp4"):
        short[0]


def test_video2dataset_layout(tmp_path: Path) -> None:
    for shard, key, caption in [("00000", "000000001", "first"), ("00001", "000010000", "second")]:
        write_mp4(tmp_path / shard / f"{key}.mp4", clip(), 8)
        (tmp_path / shard / f"{key}.txt").write_text(caption + "\n")
    data = WebVidVideos(tmp_path, layout="video2dataset", frames=3)
    assert [data[i]["video_id"] for i in range(2)] == ["00000/000000001", "00001/000010000"]
    assert data[1]["caption"] == "second" and data.describe()["captions"] is None
    (tmp_path / "00001" / "000010000.txt").unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing caption file(.|\n)*000010000.txt(.|\n)*<key>.txt"):
        WebVidVideos(tmp_path, layout="video2dataset")
