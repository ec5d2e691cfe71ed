"""Text-video data: decode a video file into sampled RGB frames, write frames as an MP4, and read WebVid-style
caption + video collections (the video diffusion memorization paper's training data).

Decoding is OpenCV's one sequential pass of :func:`bench.datasets.face_forgery.sample_frames` (no seeking, the frame
count is what decodes, not the container's header). Frame sampling rules (recorded by every reader):

- ``"uniform"``: ``frames`` indices spread from the first to the last frame (:func:`~bench.datasets.face_forgery.
  frame_indices`: ``np.linspace(0, n - 1, frames)`` rounded half to even); every frame when n <= frames;
- ``"stride"``: frames 0, ``stride``, 2 ``stride``, ... (the first ``frames`` of them when ``frames`` is set), the
  clip a model sees at a fixed frame rate.

``frames=None`` keeps every frame (uniform) or every ``stride``-th frame. OpenCV is imported on first use.
"""
from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset, is_hidden
from bench.datasets.face_forgery import frame_indices, sample_frames
from bench.io import sha256_file
from bench.registry import DATASETS
from bench.tasks.generation.exports import write_mp4  # noqa: F401 - core since the video task writes MP4s

SAMPLINGS = ("uniform", "stride")
LAYOUTS = ("webvid", "video2dataset")
MISSING_POLICIES = ("error", "skip")
WEBVID_COLUMNS = ("videoid", "page_dir", "name")  # read; the official header also has contentUrl and duration
INTERPOLATION = "INTER_AREA"  # OpenCV's area averaging: antialiased when shrinking (WebVid is 336 px or more)
SHOWN = 5  # names listed in an error before "and N more"


def _cv2() -> Any:
    import cv2

    return cv2


def _positive_int(value: Any, name: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")
    return value


def check_sampling(frames: int | None, sampling: str, stride: int) -> None:
    """ValueError for an unknown rule, a non-positive count or stride, or a stride the rule would ignore."""
    _positive_int(frames, "frames", allow_none=True)
    if sampling not in SAMPLINGS:
        raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
    _positive_int(stride, "stride")
    if sampling == "uniform" and stride != 1:
        raise ValueError(f"stride={stride} applies to sampling='stride' only; uniform sampling spreads the frames "
                         "over the whole video: pass sampling='stride' or drop stride")


def sampled_indices(num_frames: int, frames: int | None = None, sampling: str = "uniform",
                    stride: int = 1) -> list[int]:
    """The frame indices a video of ``num_frames`` frames gives under the sampling rule (see the module doc)."""
    check_sampling(frames, sampling, stride)
    if num_frames <= 0:
        return []
    if sampling == "stride":
        return list(range(0, num_frames, stride))[:frames]
    return list(range(num_frames)) if frames is None else frame_indices(num_frames, frames)


def video_fps(path: str | Path) -> float:
    """The frame rate the container reports (``CAP_PROP_FPS``), NaN when it reports none or cannot be opened."""
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    try:
        fps = float(capture.get(cv2.CAP_PROP_FPS)) if capture.isOpened() else 0.0
    finally:
        capture.release()
    return fps if fps > 0 else float("nan")


def read_video(path: str | Path, frames: int | None = None, sampling: str = "uniform",
               stride: int = 1) -> tuple[np.ndarray, float, list[int]]:
    """RGB uint8 frames [T, H, W, 3] of ``path`` under the sampling rule, the container's fps (NaN if none) and
    the T frame indices kept. T is below ``frames`` when the video is shorter (the indices say which were kept).

    FileNotFoundError for a missing file; ValueError for one OpenCV cannot decode (corrupt, truncated, or a codec
    this OpenCV build lacks).
    """
    check_sampling(frames, sampling, stride)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such video file")
    sampled = sample_frames(path, frames or 1, choose=lambda n: sampled_indices(n, frames, sampling, stride))
    stacked = np.stack([sampled.frames[i] for i in sampled.indices])
    return stacked, video_fps(path), list(sampled.indices)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Frames [T, H, W, 3] resized to ``size`` = (height, width) with ``cv2.INTER_AREA`` (no crop)."""
    cv2 = _cv2()
    height, width = size
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([cv2.resize(frame, (width, height), interpolation=getattr(cv2, INTERPOLATION))
                     for frame in frames])


@dataclass(frozen=True)
class VideoEntry:
    """One listed video: its id, file and caption."""

    video_id: str
    path: Path
    caption: str


@DATASETS.register_module()
class WebVidVideos(BenchDataset):
    """Caption + video pairs of WebVid-10M / 2M (Bain et al. 2021) from a local copy, or of a video2dataset
    download of it; items ``{"frames": uint8 [T, H, W, 3] RGB, "caption": str, "video_id": str, "fps": float,
    "frame_indices": int64 [T]}``, sample ids ``webvid-<video_id>``.

    ``layout="webvid"``: the results CSV (``captions``: a path, relative to ``root`` or absolute; by default the
    one ``results_*.csv`` in ``root``) with columns ``videoid``, ``page_dir`` and ``name`` (the caption), and the
    videos at ``<root>/videos/<page_dir>/<videoid>.mp4``, rows in file order. ``layout="video2dataset"``: shards
    ``<root>/<shard>/<key>.mp4`` with the caption in ``<key>.txt``; video ids ``<shard>/<key>``, sorted.

    Knobs: ``frames`` / ``sampling`` / ``stride`` (see the module doc; a video with fewer frames than ``frames``
    is an error naming it, so a batch never mixes lengths), ``size`` (None keeps the decoded size; an int or
    (height, width) resizes with ``cv2.INTER_AREA``, no crop), ``missing`` (``"error"``: a listed video without a
    file is an error; ``"skip"``: it is left out and counted in ``describe()``; a partial local copy of WebVid is
    the common case) and ``limit`` (the first N listed videos that exist).
    """

    layout = """
layout="webvid" (the official results CSV and the video files, as WebVid's download script saves them):
  <root>/results_2M_val.csv           (or results_10M_train.csv, ...: header videoid,contentUrl,duration,page_dir,name)
  <root>/videos/<page_dir>/<videoid>.mp4
layout="video2dataset" (video2dataset's "files" output format):
  <root>/<shard>/<key>.mp4            (e.g. 00000/000000012.mp4)
  <root>/<shard>/<key>.txt            (the caption)
"""
    obtain = ("WebVid-10M is withdrawn from public distribution (its videos are Shutterstock previews): use a "
              "local copy (the results_*.csv files from https://github.com/m-bain/webvid and the videos you "
              "downloaded with them, or a video2dataset download); record where it came from in the run's notes")

    def __init__(self, root: str | Path, captions: str | Path | None = None, layout: str = "webvid",
                 frames: int | None = 16, sampling: str = "uniform", stride: int = 1,
                 size: int | Sequence[int] | None = None, missing: str = "error", limit: int | None = None) -> None:
        check_sampling(frames, sampling, stride)
        if layout not in LAYOUTS:
            raise ValueError(f"WebVidVideos layout must be one of {LAYOUTS}, got {layout!r}")
        if missing not in MISSING_POLICIES:
            raise ValueError(f"WebVidVideos missing must be one of {MISSING_POLICIES}, got {missing!r}")
        _positive_int(limit, "limit", allow_none=True)
        self.root, self.layout_name, self.missing, self.limit = Path(root), layout, missing, limit
        self.frames, self.sampling, self.stride = frames, sampling, stride
        self.size = self._check_size(size)
        self.require(self.root, "dataset root directory")
        self.captions: Path | None = None
        self.captions_sha256 = ""
        listed = self._list_webvid(captions) if layout == "webvid" else self._list_shards()
        present = [entry for entry in listed if entry.path.is_file()]
        absent = [entry for entry in listed if not entry.path.is_file()]
        if absent and missing == "error":
            names = ", ".join(str(e.path.relative_to(self.root)) for e in absent[:SHOWN])
            more = f" and {len(absent) - SHOWN} more" if len(absent) > SHOWN else ""
            raise self.layout_error(absent[0].path, f"{len(absent)} of {len(listed)} listed videos have no file "
                                                    f"({names}{more}); pass missing='skip' to read the videos "
                                                    "that are there (the count is recorded)")
        self.listed, self.skipped = len(listed), len(absent)
        self.entries = present[:limit] if limit is not None else present
        if not self.entries:
            raise self.layout_error(self.root, f"none of the {len(listed)} listed videos has a file")

    @staticmethod
    def _check_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
        if size is None:
            return None
        pair: tuple[Any, ...] = (size, size) if isinstance(size, int) else tuple(size) \
            if isinstance(size, Sequence) and not isinstance(size, str) else ()
        if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair):
            raise ValueError(f"size must be None, a positive int or (height, width) positive ints, got {size!r}")
        return (int(pair[0]), int(pair[1]))

    def _list_webvid(self, captions: str | Path | None) -> list[VideoEntry]:
        if captions is None:
            found = sorted(p for p in self.root.glob("results_*.csv") if not is_hidden(p))
            if len(found) != 1:
                problem = ("no results_*.csv" if not found else
                           f"{len(found)} results CSVs ({', '.join(p.name for p in found)}); pass captions= to choose")
                raise self.layout_error(self.root, problem)
            path = found[0]
        else:
            path = Path(captions) if Path(captions).is_absolute() else self.root / captions
        self.captions = self.require(path, "captions CSV")
        self.captions_sha256 = sha256_file(path)
        entries: list[VideoEntry] = []
        seen: set[str] = set()
        with self.reading(path, "a UTF-8 CSV file with a header row"):
            with path.open(encoding="utf-8", newline="") as handle:
                rows = csv.DictReader(handle)
                lacking = [c for c in WEBVID_COLUMNS if c not in (rows.fieldnames or [])]
                if lacking:
                    raise self.layout_error(path, f"the header {rows.fieldnames} lacks the column(s) {lacking}; "
                                                  "WebVid's results CSV has videoid,contentUrl,duration,page_dir,name")
                for row in rows:
                    if None in row or any(row[c] is None or not row[c].strip() for c in ("videoid", "page_dir")):
                        raise self.layout_error(path, f"line {rows.line_num}: expected the header's cells with a "
                                                      f"videoid and a page_dir, got {row}")
                    video_id = row["videoid"].strip()
                    if video_id in seen:
                        raise self.layout_error(path, f"line {rows.line_num}: videoid {video_id} is listed twice")
                    seen.add(video_id)
                    page_dir = row["page_dir"].strip()
                    entries.append(VideoEntry(video_id, self.root / "videos" / page_dir / f"{video_id}.mp4",
                                              row["name"] or ""))
        if not entries:
            raise self.layout_error(path, "the CSV lists no videos")
        return entries

    def _list_shards(self) -> list[VideoEntry]:
        videos = sorted(p for p in self.root.glob("*/*.mp4") if not is_hidden(p) and not is_hidden(p.parent))
        if not videos:
            raise self.layout_error(self.root, "no <shard>/<key>.mp4 files")
        entries = []
        for video in videos:
            caption = self.require(video.with_suffix(".txt"), "caption file")
            with self.reading(caption, "a UTF-8 caption text file"):
                text = caption.read_text(encoding="utf-8").strip()
            entries.append(VideoEntry(f"{video.parent.name}/{video.stem}", video, text))
        return entries

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.entries[index]
        with self.reading(entry.path, "an mp4 video OpenCV can decode"):
            frames, fps, indices = read_video(entry.path, self.frames, self.sampling, self.stride)
        if self.frames is not None and len(indices) < self.frames:
            raise self.layout_error(entry.path, f"the video has {len(indices)} frames under sampling="
                                                f"{self.sampling!r} stride={self.stride}, fewer than frames="
                                                f"{self.frames}; lower frames or stride")
        if self.size is not None:
            frames = resize_frames(frames, self.size)
        return {"frames": torch.from_numpy(np.ascontiguousarray(frames)), "caption": entry.caption,
                "video_id": entry.video_id, "fps": fps, "frame_indices": torch.tensor(indices, dtype=torch.int64)}

    def sample_id(self, index: int) -> str:
        return f"webvid-{self.entries[index].video_id}"

    def settings(self) -> dict[str, Any]:
        """Everything that decides the pixels of an item."""
        return {"layout": self.layout_name, "frames": self.frames, "sampling": self.sampling, "stride": self.stride,
                "size": list(self.size) if self.size else None, "missing": self.missing, "limit": self.limit}

    def fingerprint(self) -> str:
        """sha256 over the settings, the captions CSV's bytes, and every video's id, caption and file size."""
        digest = hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode())
        digest.update(self.captions_sha256.encode())
        for entry in self.entries:
            digest.update(f"{entry.video_id}\0{entry.caption}\0{entry.path.stat().st_size}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        rule = {"uniform": "np.linspace(0, n - 1, frames) rounded half to even; all n frames when n <= frames",
                "stride": "frames 0, stride, 2*stride, ... (the first `frames`)"}[self.sampling]
        return {**super().describe(), "root": str(self.root), **self.settings(), "frame_sampling": rule,
                "captions": str(self.captions) if self.captions else None, "captions_sha256": self.captions_sha256,
                "listed_videos": self.listed, "skipped_missing_videos": self.skipped,
                "resize": f"cv2.{INTERPOLATION}, no crop" if self.size else "none (decoded size)",
                "decoder": f"OpenCV {_cv2().__version__}, one sequential pass, no seeking"}
