"""Face-forgery detection frames: FaceForensics++ (official layout and pair splits) and Celeb-DF v2 (its test list).

Items are single frames, ``{"image": float32 [3, S, S] RGB in [0, 1], "target": int64 (1 = fake, 0 = real),
"video_id": str, "frame_index": int}``; a video is the unit of video-level AUC (frame scores averaged per
``video_id``). Both readers share one preprocessing stage, :class:`FrameSampler`:

- frames: ``frames_per_video`` indices spread evenly over the video (:func:`frame_indices`: ``np.linspace(0, n - 1,
  k)`` rounded half to even, every frame when n <= k), decoded by one sequential OpenCV read to the end of the
  stream (no seeking: seeks in long-GOP mp4s can land on the wrong frame), so n is the count of frames that decode,
  not the container's header;
- face crop: a box file, a detector callable, or the centre square, with FaceForensics++'s box rule
  (:func:`enlarged_square`); a frame without a face falls back to the centre square and is counted;
- resize to ``size`` x ``size`` with ``cv2.INTER_LINEAR`` (not antialiased; FF++'s own Xception transforms resize
  the crop with PIL's bilinear filter, which is);
- cache: one PNG per frame and a ``manifest.json`` per video under
  ``<cache_dir or <root>/bench_frames>/<reader>/<settings hash>/<video key>/``. The settings (everything that
  determines the pixels: frame count, crop mode and scale, box source, size, interpolation, OpenCV version) name
  the folder; the manifest repeats them with the video file's size and mtime. A video whose manifest matches is
  not decoded again; one that differs is rebuilt in a temporary folder renamed into place.

OpenCV (``opencv-python``, which mmengine already requires) is imported only when frames are decoded or read, so
registry look-ups that import every reader stay cheap.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset, is_hidden
from bench.io import atomic_write_json, read_json, sha256_json
from bench.registry import DATASETS, suggest

log = logging.getLogger("bench.datasets.face_forgery")

#: bumped whenever the cached pixels of the same settings would change (part of the settings hash)
CACHE_FORMAT = 1
CROP_MODES = ("center", "boxes", "detector")
BALANCE_MODES = ("none", "oversample_real")
INTERPOLATION = "INTER_LINEAR"
FRAME_SAMPLING = "np.linspace(0, n - 1, k) rounded half to even; all n frames when n <= k"
BOX_RULE = ("FaceForensics++ classification/detect_from_video.py get_boundingbox: side = int(max(w, h) * scale), "
            "centre = ((x0 + x1) // 2, (y0 + y1) // 2), top-left clamped at 0, side shrunk to fit right/bottom")
NEAREST_BOX_RULE = "a frame without a box takes the box of the nearest frame that has one (the earlier on a tie)"

COMPRESSIONS = ("raw", "c23", "c40")
FFPP_MANIPULATIONS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
FFPP_KNOWN_MANIPULATIONS = (*FFPP_MANIPULATIONS, "FaceShifter", "DeepFakeDetection")
FFPP_SPLITS = ("train", "val", "test")
CELEBDF_SPLITS = ("train", "test")
CELEBDF_FAKE_FOLDER = "Celeb-synthesis"
CELEBDF_FOLDERS = ("Celeb-real", "Celeb-synthesis", "YouTube-real")

Box = tuple[float, float, float, float]
Region = tuple[int, int, int]  # (x, y, side) of a square in pixel coordinates


def _cv2() -> Any:
    """OpenCV, imported on first use (``import cv2`` costs a noticeable fraction of a second)."""
    import cv2

    return cv2


# --- frame sampling and decoding ----------------------------------------------------------------------------------

def frame_indices(num_frames: int, frames_per_video: int) -> list[int]:
    """The frames to keep of a video of ``num_frames``: ``frames_per_video`` evenly spaced from first to last.

    ``np.round`` rounds halves to even (n = 6, k = 3: linspace gives 0, 2.5, 5, kept as 0, 2, 5). When n > k the
    spacing exceeds 1, so rounded indices never repeat; when n <= k every frame is kept once.
    """
    if num_frames <= 0:
        return []
    if num_frames <= frames_per_video:
        return list(range(num_frames))
    return [int(i) for i in np.round(np.linspace(0, num_frames - 1, frames_per_video))]


def reported_frame_count(path: Path) -> int:
    """The frame count the container reports (``CAP_PROP_FRAME_COUNT``; may be wrong or 0), -1 if unopenable."""
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    try:
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else -1
    finally:
        capture.release()


def decode_frames(path: Path, wanted: Sequence[int]) -> tuple[dict[int, np.ndarray], int, str]:
    """RGB uint8 frames at ``wanted`` indices, the number of frames that decode and the OpenCV backend's name.

    One sequential pass with ``grab`` (every frame) and ``retrieve`` (wanted ones) to the end of the stream: the
    count is exact whatever the header says, and no seek can land on a neighbouring frame.
    """
    cv2 = _cv2()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        return {}, 0, ""
    wanted_set, frames, count = set(wanted), {}, 0
    try:
        backend = capture.getBackendName()
        while capture.grab():
            if count in wanted_set:
                ok, bgr = capture.retrieve()
                if ok and bgr is not None:
                    frames[count] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            count += 1
    finally:
        capture.release()
    return frames, count, backend


@dataclass
class SampledFrames:
    """The decoded frames of one video and the counts they were chosen from."""

    indices: list[int]
    frames: dict[int, np.ndarray]
    frame_count: int
    reported_frame_count: int
    backend: str


def sample_frames(path: Path, frames_per_video: int,
                  choose: Callable[[int], list[int]] | None = None) -> SampledFrames:
    """Decode the :func:`frame_indices` of ``path``; a second pass when the header's count was wrong.

    ``choose`` (frame count -> indices) replaces :func:`frame_indices` (then ``frames_per_video`` is unused): the
    video readers' other sampling rules share this decode and its header check.
    """
    chooser = choose if choose is not None else (lambda count: frame_indices(count, frames_per_video))
    reported = reported_frame_count(path)
    indices = chooser(reported)
    frames, count, backend = decode_frames(path, indices)
    if count != reported:  # header over- or under-counted: choose again from the frames that decode
        corrected = chooser(count)
        if corrected != indices:
            indices = corrected
            frames, count, backend = decode_frames(path, indices)
    missing = [i for i in indices if i not in frames]
    if count == 0 or missing:
        raise ValueError(f"{path}: OpenCV decoded {count} frames (header: {reported}) and could not retrieve "
                         f"frames {missing[:5]}; the file is corrupt, truncated or in a codec this OpenCV build "
                         "lacks (check cv2.getBuildInformation() for FFMPEG)")
    return SampledFrames(indices, frames, count, reported, backend)


# --- face boxes -------------------------------------------------------------------------------------------------------

def enlarged_square(box: Sequence[float], width: int, height: int, scale: float) -> Region | None:
    """The square crop around ``box`` = [x0, y0, x1, y1] that FaceForensics++ uses, or None if it is empty.

    As ``get_boundingbox`` in FF++'s ``classification/detect_from_video.py`` (scale 1.3 there): side =
    int(max(w, h) * scale) around the box centre ((x0 + x1) // 2, (y0 + y1) // 2); the top-left corner is clamped
    to 0 (the square shifts) and the side shrinks to fit the right and bottom edges (it stays square).
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    side = int(max(x1 - x0, y1 - y0) * scale)
    centre_x, centre_y = (x0 + x1) // 2, (y0 + y1) // 2
    left = max(int(centre_x - side // 2), 0)
    top = max(int(centre_y - side // 2), 0)
    side = min(width - left, height - top, side)
    return (left, top, side) if side > 0 else None


def center_square(width: int, height: int) -> Region:
    """The largest centred square (no face crop; the fallback for frames without a face)."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side


def nearest_box(boxes: Mapping[int, Box], frame_index: int) -> tuple[Box, int] | None:
    """The box of ``frame_index``, else of the nearest frame that has one (the earlier on a tie), and that frame."""
    if not boxes:
        return None
    chosen = min(boxes, key=lambda i: (abs(i - frame_index), i))
    return boxes[chosen], chosen


def parse_box(value: Any, where: str) -> Box:
    """``[x0, y0, x1, y1]`` as four floats; ValueError naming ``where`` otherwise."""
    try:
        box = tuple(float(v) for v in value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: a box must be [x0, y0, x1, y1] numbers, got {value!r}") from error
    if len(box) != 4:
        raise ValueError(f"{where}: a box must be [x0, y0, x1, y1] (4 numbers), got {value!r}")
    return box  # type: ignore[return-value]


def read_boxes(source: str | Path | Mapping[str, Any]) -> dict[str, dict[int, Box]]:
    """Face boxes ``{"<video_id>": {"<frame_index>": [x0, y0, x1, y1] | null, ...}, ...}`` (pixels, full frame).

    ``source`` is a JSON file or the same mapping. ``null`` means "no face in that frame" and is dropped, so the
    nearest frame's box is used (see :func:`nearest_box`).
    """
    data = read_json(source) if isinstance(source, (str, Path)) else source
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected {{video_id: {{frame_index: [x0, y0, x1, y1]}}}}, got {type(data)}")
    boxes: dict[str, dict[int, Box]] = {}
    for video_id, frames in data.items():
        if not isinstance(frames, Mapping):
            raise ValueError(f"boxes of {video_id!r}: expected {{frame_index: [x0, y0, x1, y1]}}, got {frames!r}")
        boxes[str(video_id)] = {int(index): parse_box(box, f"box of {video_id!r} frame {index}")
                                for index, box in frames.items() if box is not None}
    return boxes


def load_detector(spec: str) -> Callable[[np.ndarray], Any]:
    """The callable named ``"package.module:function"`` (attributes may be dotted after the colon)."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"detector must be 'package.module:function', got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise ValueError(f"detector {spec!r} is not callable")
    return target


def crop_resize(frame: np.ndarray, region: Region, size: int) -> np.ndarray:
    """The square ``region`` of an RGB frame resized to ``size`` x ``size`` (``cv2.INTER_LINEAR``)."""
    cv2 = _cv2()
    x, y, side = region
    crop = np.ascontiguousarray(frame[y:y + side, x:x + side])
    return cv2.resize(crop, (size, size), interpolation=getattr(cv2, INTERPOLATION))


def load_png_rgb(path: Path) -> np.ndarray:
    """A cached frame as RGB uint8 [S, S, 3]."""
    cv2 = _cv2()
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(f"{path}: cached frame is missing or unreadable; construct the dataset again to "
                                "rebuild the frame cache")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_png(rgb: np.ndarray) -> bytes:
    cv2 = _cv2()
    ok, data = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode a PNG")
    return data.tobytes()


def file_identity(path: Path, root: Path) -> dict[str, Any]:
    """What the cache checks to know a video is unchanged: its path under ``root``, size and mtime (a stat)."""
    stat = path.stat()
    return {"file": path.relative_to(root).as_posix(), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def replace_folder(staging: Path, folder: Path) -> None:
    """Move a fully written ``staging`` folder to ``folder``, replacing an older ``folder`` (renames only).

    When several processes build the same video at once (every rank of a distributed run constructs the
    dataset), the first rename wins and the others keep its folder: the frames are the same.
    """
    if folder.exists():
        old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
        try:
            os.replace(folder, old)
        except FileNotFoundError:  # another process moved it first
            pass
        shutil.rmtree(old, ignore_errors=True)
    try:
        os.replace(staging, folder)
    except OSError:
        if not (folder / "manifest.json").is_file():
            raise


# --- the shared preprocessing stage -----------------------------------------------------------------------------------

class FrameSampler:
    """Samples, face-crops, resizes and caches the frames of one video; its :meth:`settings` name the cache folder.

    ``crop``: ``"center"`` (largest centred square, no face crop), ``"boxes"`` (``boxes``: a JSON file or mapping,
    see :func:`read_boxes`; keys are the readers' video ids) or ``"detector"`` (``detector``:
    ``"package.module:function"``, called with an RGB uint8 [H, W, 3] frame, returning [x0, y0, x1, y1] or None).
    Face boxes become squares with :func:`enlarged_square` (``crop_scale``). Readers built with ``workers`` > 1
    call the detector from several threads at once.
    """

    def __init__(self, frames_per_video: int = 32, size: int = 299, crop: str = "center",
                 boxes: str | Path | Mapping[str, Any] | None = None, detector: str | None = None,
                 crop_scale: float = 1.3) -> None:
        if isinstance(frames_per_video, bool) or not isinstance(frames_per_video, int) or frames_per_video < 1:
            raise ValueError(f"frames_per_video must be a positive integer, got {frames_per_video!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        if crop not in CROP_MODES:
            raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}")
        if not crop_scale > 0:
            raise ValueError(f"crop_scale must be positive, got {crop_scale!r}")
        if (boxes is not None) != (crop == "boxes") or (detector is not None) != (crop == "detector"):
            given = f"crop={crop!r}, boxes={'set' if boxes is not None else None}, detector={detector!r}"
            raise ValueError(f"pass boxes= exactly with crop='boxes' and detector= exactly with crop='detector' "
                             f"(got {given})")
        self.frames_per_video, self.size, self.crop, self.crop_scale = frames_per_video, size, crop, float(crop_scale)
        self.boxes_source = None if boxes is None else str(boxes) if isinstance(boxes, (str, Path)) else "mapping"
        self.boxes = read_boxes(boxes) if boxes is not None else {}
        self.detector_spec = detector
        self.detector = load_detector(detector) if detector is not None else None
        self._settings = self._make_settings()

    def box_source(self) -> dict[str, Any]:
        """What the face boxes come from, as hashed into the settings (a box file by its parsed content)."""
        if self.crop == "boxes":
            return {"kind": "boxes", "sha256": sha256_json({k: {str(i): b for i, b in v.items()}
                                                            for k, v in self.boxes.items()})}
        if self.crop == "detector":
            return {"kind": "detector", "detector": self.detector_spec}
        return {"kind": "none (centre square)"}

    def settings(self) -> dict[str, Any]:
        """Everything that determines the cached pixels; the cache folder is named by its hash."""
        return self._settings

    def _make_settings(self) -> dict[str, Any]:
        return {"format": CACHE_FORMAT, "frames_per_video": self.frames_per_video, "frame_sampling": FRAME_SAMPLING,
                "size": self.size, "crop": self.crop, "crop_scale": None if self.crop == "center" else self.crop_scale,
                "box_rule": None if self.crop == "center" else BOX_RULE, "box_source": self.box_source(),
                "interpolation": f"cv2.{INTERPOLATION}", "opencv": _cv2().__version__}

    def settings_hash(self) -> str:
        return sha256_json(self.settings())[:16]

    def face_region(self, frame: np.ndarray, video_id: str, frame_index: int) -> tuple[Region, dict[str, Any]]:
        """The square to crop from ``frame`` and what it came from (``fallback``: no face, centre square used)."""
        height, width = frame.shape[:2]
        box, box_frame = None, None
        if self.crop == "boxes":
            found = nearest_box(self.boxes.get(video_id, {}), frame_index)
            if found is not None:
                box, box_frame = found
        elif self.crop == "detector":
            detected = self.detector(frame)  # type: ignore[misc]
            box = None if detected is None else parse_box(detected, f"detector {self.detector_spec} output")
        region = enlarged_square(box, width, height, self.crop_scale) if box is not None else None
        if region is None:
            return center_square(width, height), {"fallback": self.crop != "center", "box": None, "box_frame": None}
        return region, {"fallback": False, "box": list(box), "box_frame": box_frame}

    def build(self, path: Path, video_id: str, folder: Path, identity: dict[str, Any]) -> dict[str, Any]:
        """Decode, crop and write the frames of one video into ``folder`` (atomically); returns its manifest."""
        sampled = sample_frames(path, self.frames_per_video)
        manifest = {"settings": self.settings(), "video": identity, "video_id": video_id,
                    "frame_count": sampled.frame_count, "reported_frame_count": sampled.reported_frame_count,
                    "backend": sampled.backend, "frames": []}
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.parent / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            for index in sampled.indices:
                frame = sampled.frames[index]
                region, source = self.face_region(frame, video_id, index)
                image = crop_resize(frame, region, self.size)
                name = f"f{index:06d}.png"
                (staging / name).write_bytes(encode_png(image))
                manifest["frames"].append({"index": index, "file": name, "region": list(region), **source,
                                           "sha256": hashlib.sha256(image.tobytes()).hexdigest()})
            atomic_write_json(staging / "manifest.json", manifest)
            replace_folder(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return manifest

    def cached(self, folder: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
        """The manifest in ``folder`` if it records these settings and this video file and its PNGs exist."""
        try:
            manifest = read_json(folder / "manifest.json")
        except (OSError, ValueError):
            return None
        if manifest.get("settings") != self.settings() or manifest.get("video") != identity:
            return None
        if not all((folder / frame["file"]).is_file() for frame in manifest.get("frames", [])):
            return None
        return manifest

    def prepare(self, path: Path, video_id: str, folder: Path, root: Path) -> tuple[dict[str, Any], bool]:
        """The manifest of one video, from the cache when it matches, else built now; and whether it was built."""
        identity = file_identity(path, root)
        manifest = self.cached(folder, identity)
        if manifest is not None:
            return manifest, False
        return self.build(path, video_id, folder, identity), True


# --- readers --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Video:
    """One video of a split: its id (also the box-file key), file, label (1 = fake) and cache sub-folder."""

    video_id: str
    path: Path
    target: int
    cache_key: str


class FaceForgeryFrames(BenchDataset):
    """Frames of a list of real and fake videos through a :class:`FrameSampler`; subclasses list the videos.

    Samples are ordered by video (the subclass's order), then repeat, then frame. ``balance="oversample_real"``
    repeats every frame of a real video ``real_repeats`` times (their sample ids end in ``-r<k>``, k = 0 ..
    repeats - 1; fake frames keep the ids they have without balancing).
    """

    #: sample ids start with this (subclasses may add settings that are not in the video id, e.g. compression)
    id_prefix = ""

    def _prepare(self, root: Path, videos: list[Video], sampler: FrameSampler, balance: str, real_repeats: int,
                 cache_dir: str | Path | None, workers: int) -> None:
        """Cache (or reuse) every video's frames and list the samples."""
        if balance not in BALANCE_MODES:
            raise ValueError(f"balance must be one of {BALANCE_MODES}, got {balance!r}")
        for video in videos:
            self.require(video.path, "video file")
        self.root, self.videos, self.sampler, self.balance = root, videos, sampler, balance
        self.real_repeats = real_repeats if balance == "oversample_real" else 1
        self.cache_root = Path(cache_dir) if cache_dir is not None else root / "bench_frames"
        self.cache_folder = self.cache_root / type(self).__name__ / sampler.settings_hash()
        self._write_settings(sampler.settings())
        self.manifests, self.built_videos = self._manifests(workers)
        self.samples: list[tuple[int, int, int | None]] = []  # (video, frame position, repeat or None)
        for v, (video, manifest) in enumerate(zip(videos, self.manifests, strict=True)):
            oversampled = video.target == 0 and balance == "oversample_real"
            repeats: list[int | None] = list(range(self.real_repeats)) if oversampled else [None]
            for repeat in repeats:
                self.samples.extend((v, position, repeat) for position in range(len(manifest["frames"])))

    def _write_settings(self, settings: dict[str, Any]) -> None:
        """``settings.json`` in the cache folder, so a person can tell what a settings hash stands for."""
        path = self.cache_folder / "settings.json"
        try:
            if read_json(path) == json.loads(json.dumps(settings)):
                return
        except (OSError, ValueError):
            pass
        atomic_write_json(path, settings)

    def _manifests(self, workers: int) -> tuple[list[dict[str, Any]], int]:
        """Every video's manifest (threads when ``workers`` > 1: OpenCV decodes without the GIL)."""
        def prepare(video: Video) -> tuple[dict[str, Any], bool]:
            try:
                return self.sampler.prepare(video.path, video.video_id, self.cache_folder / video.cache_key,
                                            self.root)
            except ValueError as error:
                raise self.layout_error(video.path, str(error)) from error

        log.info("%s: %d videos, frame cache %s", type(self).__name__, len(self.videos), self.cache_folder)
        if workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(prepare, self.videos))
        else:
            results = [prepare(video) for video in self.videos]
        return [manifest for manifest, _ in results], sum(built for _, built in results)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        v, position, _ = self.samples[index]
        video, frame = self.videos[v], self.manifests[v]["frames"][position]
        path = self.cache_folder / video.cache_key / frame["file"]
        with self.reading(path, "a cached frame PNG (construct the dataset again to rebuild the frame cache)"):
            rgb = load_png_rgb(path)
        image = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).float() / 255.0
        return {"image": image, "target": torch.tensor(video.target, dtype=torch.int64), "video_id": video.video_id,
                "frame_index": int(frame["index"])}

    def sample_id(self, index: int) -> str:
        """``<prefix>-<video id with / as ->-f<frame index, 4+ digits>`` plus ``-r<k>`` for oversampled repeats."""
        v, position, repeat = self.samples[index]
        frame = self.manifests[v]["frames"][position]["index"]
        suffix = "" if repeat is None else f"-r{repeat}"
        return f"{self.id_prefix}-{self.videos[v].video_id.replace('/', '-')}-f{frame:04d}{suffix}"

    def fingerprint(self) -> str:
        """sha256 over the settings, sample ids, labels and the recorded sha256 of every cached frame's pixels.

        The pixel hashes were taken when the frames were cached, so this costs no decoding; video file sizes and
        mtimes are left out (a copied dataset keeps its fingerprint).
        """
        digest = hashlib.sha256(type(self).__name__.encode())
        digest.update(json.dumps(self.sampler.settings(), sort_keys=True).encode())
        for video, manifest in zip(self.videos, self.manifests, strict=True):
            digest.update(f"\0{video.video_id}\0{video.target}".encode())
            for frame in manifest["frames"]:
                digest.update(f"\0{frame['index']}:{frame['sha256']}".encode())
        for index in range(len(self)):
            digest.update(f"\0{self.sample_id(index)}".encode())
        return digest.hexdigest()

    def video_targets(self) -> dict[str, int]:
        """Label (1 = fake) of every video id, for video-level metrics."""
        return {video.video_id: video.target for video in self.videos}

    def describe(self) -> dict[str, Any]:
        """Protocol facts: frames, crop, balance and the real/fake counts of videos, frames and samples."""
        frames = [len(m["frames"]) for m in self.manifests]
        fallback = sum(f["fallback"] for m in self.manifests for f in m["frames"])
        borrowed = sum(f["box_frame"] is not None and f["box_frame"] != f["index"]
                       for m in self.manifests for f in m["frames"])
        real = [v.target == 0 for v in self.videos]
        real_frames = sum(n for n, r in zip(frames, real, strict=True) if r)
        fake_frames = sum(frames) - real_frames
        settings = self.sampler.settings()
        return {**super().describe(), "root": str(self.root), "split": self.split,
                "label_convention": "target 1 = fake, 0 = real",
                "frames_per_video": self.sampler.frames_per_video, "frame_sampling": FRAME_SAMPLING,
                "crop": self.sampler.crop, "crop_scale": settings["crop_scale"], "box_rule": settings["box_rule"],
                "nearest_box_rule": NEAREST_BOX_RULE if self.sampler.crop == "boxes" else None,
                "size": self.sampler.size, "interpolation": settings["interpolation"],
                "box_source": {**settings["box_source"], "path": self.sampler.boxes_source}
                if self.sampler.crop == "boxes" else settings["box_source"],
                "no_face_frames": fallback,
                "borrowed_box_frames": borrowed,
                "balance": self.balance, "real_repeats": self.real_repeats,
                "real_videos": sum(real), "fake_videos": len(real) - sum(real),
                "real_frames": real_frames, "fake_frames": fake_frames,
                "real_samples": real_frames * self.real_repeats, "fake_samples": fake_frames,
                "opencv": settings["opencv"], "frame_cache": str(self.cache_folder)}


@DATASETS.register_module()
class FaceForensicsPP(FaceForgeryFrames):
    """FaceForensics++ frames of one official split, compression and set of manipulation methods.

    A split-file pair (a, b) gives the real videos a and b (``original_sequences/youtube``) and, per manipulation,
    the fakes ``a_b`` and ``b_a`` (720 / 140 / 140 real videos in train / val / test). Video ids:
    ``original/<id>`` and ``<Method>/<a>_<b>`` (the keys of a box file); sample ids
    ``ffpp-<compression>-<Method or original>-<name>-f<frame>`` (e.g. ``ffpp-c23-Deepfakes-000_003-f0012``).
    Real:fake is 1:len(manipulations) frames; ``balance="oversample_real"`` repeats real frames
    len(manipulations) times for 1:1 (training). Videos are listed real first (pair order), then per method.
    """

    layout = """
<root>/original_sequences/youtube/<compression>/videos/<id>.mp4        (000.mp4 ... 999.mp4)
<root>/manipulated_sequences/<Method>/<compression>/videos/<a>_<b>.mp4 (Method: Deepfakes, Face2Face, FaceSwap,
                                                                        NeuralTextures, FaceShifter)
<root>/splits/train.json, val.json, test.json   (official [[a, b], ...] pair lists; or split_file=)
   compression: raw, c23 (HQ) or c40 (LQ)
"""
    obtain = ("fill in the Google form linked from https://github.com/ondyari/FaceForensics (dataset/README.md); run "
              "the official download script it sends (download.py / download-FaceForensics.py): "
              "`python download.py <root> -d all -c c23 -t videos` (again with -c c40 or -c raw as needed); copy "
              "train.json, val.json and test.json from https://github.com/ondyari/FaceForensics/tree/master/"
              "dataset/splits into <root>/splits/")

    def __init__(self, root: str | Path, split: str = "test", compression: str = "c23",
                 manipulations: Sequence[str] = FFPP_MANIPULATIONS, frames_per_video: int = 32, size: int = 299,
                 crop: str = "center", boxes: str | Path | Mapping[str, Any] | None = None,
                 detector: str | None = None, crop_scale: float = 1.3, balance: str = "none",
                 split_file: str | Path | None = None, cache_dir: str | Path | None = None, workers: int = 1) -> None:
        self.compression = validate_compression(compression)
        self.manipulations = validate_manipulations(manipulations)
        if split not in FFPP_SPLITS:
            raise ValueError(f"FaceForensicsPP split must be one of {FFPP_SPLITS}, got {split!r}")
        self.split, root = split, Path(root)
        self.id_prefix = f"ffpp-{self.compression}"
        self.split_file = self.require(Path(split_file) if split_file else root / "splits" / f"{split}.json",
                                       "split file")
        try:
            self.pairs = read_pair_split(self.split_file)
        except ValueError as error:
            raise self.layout_error(self.split_file, str(error)) from error
        sampler = FrameSampler(frames_per_video, size, crop, boxes, detector, crop_scale)
        self._prepare(root, self._videos(root), sampler, balance, len(self.manipulations), cache_dir, workers)

    def _videos(self, root: Path) -> list[Video]:
        """Real videos of the pairs, then each manipulation's a_b and b_a videos; folders checked first."""
        real_dir = self.require(root / "original_sequences" / "youtube" / self.compression / "videos",
                                "original videos directory")
        videos = [Video(f"original/{i}", real_dir / f"{i}.mp4", 0, f"{self.compression}/original/{i}")
                  for i in dict.fromkeys(i for pair in self.pairs for i in pair)]
        for method in self.manipulations:
            fake_dir = self.require(root / "manipulated_sequences" / method / self.compression / "videos",
                                    f"{method} videos directory")
            for a, b in self.pairs:
                for name in (f"{a}_{b}", f"{b}_{a}"):
                    videos.append(Video(f"{method}/{name}", fake_dir / f"{name}.mp4", 1,
                                        f"{self.compression}/{method}/{name}"))
        return videos

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "compression": self.compression, "manipulations": list(self.manipulations),
                "split_file": str(self.split_file), "pairs": len(self.pairs)}


def validate_compression(compression: str) -> str:
    if compression not in COMPRESSIONS:
        raise ValueError(f"FaceForensics++ compression must be one of {COMPRESSIONS} (c23 = HQ, c40 = LQ), "
                         f"got {compression!r}")
    return compression


def validate_manipulations(manipulations: Sequence[str]) -> tuple[str, ...]:
    """The methods as a tuple; ValueError for an empty list, an unknown name, a repeat or DeepFakeDetection."""
    if isinstance(manipulations, str):
        manipulations = (manipulations,)
    methods = tuple(manipulations)
    if not methods:
        raise ValueError(f"manipulations must name at least one of {FFPP_KNOWN_MANIPULATIONS}")
    for method in methods:
        if method not in FFPP_KNOWN_MANIPULATIONS:
            hint = suggest(method, FFPP_KNOWN_MANIPULATIONS)
            raise ValueError(f"unknown FaceForensics++ manipulation {method!r}.{hint} "
                             f"Choices: {', '.join(FFPP_KNOWN_MANIPULATIONS)}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"manipulations lists a method twice: {list(methods)}")
    if "DeepFakeDetection" in methods:
        # Its videos are <actor>_<actor>__<scene>__<code>.mp4 made from original_sequences/actors: the pair
        # splits do not list them, so there is no official way to pick its train/val/test videos here.
        raise ValueError("DeepFakeDetection is a known FaceForensics++ method, but its videos (<actor>_<actor>__"
                         "<scene>__<code>.mp4, from original_sequences/actors) are not in the official pair splits; "
                         f"this reader takes the pair-named methods {FFPP_KNOWN_MANIPULATIONS[:5]}")
    return methods


def read_pair_split(path: Path) -> list[tuple[str, str]]:
    """An official split file: a JSON list of ``[a, b]`` id pairs (``["953", "974"]``)."""
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error})") from error
    if not isinstance(data, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(i, str) for i in p) for p in data):
        raise ValueError('not an official split file (a JSON list of ["a", "b"] id pairs)')
    if not data:
        raise ValueError("no pairs listed")
    return [(a, b) for a, b in data]


@DATASETS.register_module()
class CelebDFv2(FaceForgeryFrames):
    """Celeb-DF (v2) frames: ``split="test"`` is the 518 videos of ``List_of_testing_videos.txt``, ``"train"``
    every other ``.mp4`` in the three folders (sorted by folder, then name).

    The test list's label is 1 for REAL and 0 for FAKE, the opposite of our target (1 = fake); the folder must
    agree with the label (Celeb-synthesis is fake), else the list is rejected. Video ids are the relative path
    without ``.mp4`` (``Celeb-synthesis/id0_id16_0000``); sample ids ``celebdf-Celeb-synthesis-id0_id16_0000-f0012``.
    ``balance="oversample_real"`` repeats real frames round(fake videos / real videos) times (at least once).
    """

    layout = """
<root>/Celeb-real/id<k>_<nnnn>.mp4               (590 real celebrity videos)
<root>/Celeb-synthesis/id<t>_id<s>_<nnnn>.mp4    (5639 DeepFake videos)
<root>/YouTube-real/<nnnnn>.mp4                  (300 real YouTube videos)
<root>/List_of_testing_videos.txt                (518 lines "<label> <folder>/<file>.mp4"; label 1 = real, 0 = fake)
"""
    obtain = ("request Celeb-DF v2 from Li et al. with the form linked at "
              "https://github.com/yuezunli/celeb-deepfakeforensics; unzip Celeb-DF-v2 so that <root> holds the "
              "three folders and List_of_testing_videos.txt")
    id_prefix = "celebdf"

    def __init__(self, root: str | Path, split: str = "test", frames_per_video: int = 32, size: int = 299,
                 crop: str = "center", boxes: str | Path | Mapping[str, Any] | None = None,
                 detector: str | None = None, crop_scale: float = 1.3, balance: str = "none",
                 cache_dir: str | Path | None = None, workers: int = 1) -> None:
        if split not in CELEBDF_SPLITS:
            raise ValueError(f"CelebDFv2 split must be one of {CELEBDF_SPLITS}, got {split!r}")
        self.split, root = split, Path(root)
        for folder in CELEBDF_FOLDERS:
            self.require(root / folder, "directory")
        self.test_list = self.require(root / "List_of_testing_videos.txt", "test list")
        try:
            test = read_celebdf_test_list(self.test_list)
        except ValueError as error:
            raise self.layout_error(self.test_list, str(error)) from error
        if split == "test":
            listed = list(test.items())
        else:
            listed = [(p, celebdf_target(p)) for p in celebdf_videos(root) if p not in test]
        videos = [Video(p.removesuffix(".mp4"), root / p, t, p.removesuffix(".mp4")) for p, t in listed]
        fake = sum(v.target for v in videos)
        repeats = max(1, round(fake / max(1, len(videos) - fake)))
        sampler = FrameSampler(frames_per_video, size, crop, boxes, detector, crop_scale)
        self._prepare(root, videos, sampler, balance, repeats, cache_dir, workers)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "test_list": str(self.test_list),
                "test_list_labels": "official file: 1 = real, 0 = fake (inverted into target 1 = fake)"}


def celebdf_target(relative_path: str) -> int:
    """1 (fake) for Celeb-synthesis videos, 0 for Celeb-real and YouTube-real."""
    return int(relative_path.split("/")[0] == CELEBDF_FAKE_FOLDER)


def celebdf_videos(root: Path) -> list[str]:
    """Every ``<folder>/<name>.mp4`` of the three folders, folder by folder, names sorted; hidden files (macOS
    AppleDouble ``._id0_0000.mp4``) skipped."""
    return [f"{folder}/{path.name}" for folder in CELEBDF_FOLDERS for path in sorted((root / folder).glob("*.mp4"))
            if not is_hidden(path)]


def read_celebdf_test_list(path: Path) -> dict[str, int]:
    """``{"<folder>/<name>.mp4": target}`` from ``List_of_testing_videos.txt`` in file order.

    Lines are ``<label> <path>`` with label 1 = REAL, 0 = FAKE (the file's convention); the target is
    ``1 - label`` (1 = fake) and must agree with the folder. Blank lines are skipped.
    """
    listed: dict[str, int] = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[0] not in ("0", "1") or fields[1].split("/")[0] not in CELEBDF_FOLDERS:
            raise ValueError(f"line {number}: expected '<1 real | 0 fake> <folder>/<name>.mp4' with a folder of "
                             f"{CELEBDF_FOLDERS}, got {line.strip()!r}")
        target = 1 - int(fields[0])
        if target != celebdf_target(fields[1]):
            raise ValueError(f"line {number}: label {fields[0]} ({'real' if target == 0 else 'fake'}) disagrees with "
                             f"the folder of {fields[1]} (in this file 1 = real, 0 = fake)")
        listed[fields[1]] = target
    if not listed:
        raise ValueError("no videos listed")
    return listed


PROXY_SPLITS = {"train": (0.0, 0.6), "val": (0.6, 0.75), "test": (0.75, 1.0)}


def upsampling_artifact(images: torch.Tensor) -> torch.Tensor:
    """A generator's up-sampling trace on [N, C, H, W] images (H, W even): 2x2 average pooling, then a stride-2
    transposed convolution with the fixed kernel [[1, 3, 1], [3, 4, 3], [1, 3, 1]] / 5, whose four polyphase
    gains (0.8, 1.2, 1.2, 0.8) leave the periodic checkerboard that learned up-samplers leave in the spectrum
    (Odena et al. 2016; Durall et al. 2020). Mean brightness is kept; detail above half the band is lost."""
    channels = images.shape[1]
    kernel = torch.tensor([[1.0, 3.0, 1.0], [3.0, 4.0, 3.0], [1.0, 3.0, 1.0]], dtype=images.dtype) / 5.0
    weight = kernel.expand(channels, 1, 3, 3).contiguous()
    low = torch.nn.functional.avg_pool2d(images, 2)
    return torch.nn.functional.conv_transpose2d(low, weight, stride=2, padding=1, output_padding=1, groups=channels)


@DATASETS.register_module()
class GeneratedForgeryVideos(BenchDataset):
    """A face-forgery proxy that needs no download, for the demo and tests: short "videos" of ``size`` x ``size``
    crops of scikit-learn's two sample photographs, half of them "fake".

    A video is a crop window that drifts by up to ``drift`` pixels per frame, with its own brightness/contrast;
    every frame gets Gaussian noise (std ``noise``). A fake video's frames are
    ``(1 - a) x + a upsampling_artifact(x)`` with ``a = artifact_strength``: the spatial cue is mild blur, the
    spectral cue a period-2 checkerboard. Splits take disjoint column bands of the photographs (train: the left 60%,
    val the next 15%, test the rest), so test crops are unseen content. Items are those of the FF++ reader.
    """

    layout = "bundled with scikit-learn: sklearn/datasets/images/{china,flower}.jpg"
    obtain = "pip install scikit-learn pillow"

    def __init__(self, split: str = "train", videos: int = 64, frames_per_video: int = 4, size: int = 32,
                 source_scale: float = 0.5, artifact_strength: float = 0.3, noise: float = 0.02, drift: int = 2,
                 fake_fraction: float = 0.5, seed: int = 0) -> None:
        if split not in PROXY_SPLITS:
            raise ValueError(f"GeneratedForgeryVideos split must be one of {tuple(PROXY_SPLITS)}, got {split!r}")
        if size % 2:
            raise ValueError(f"size must be even (the artifact up-samples by 2), got {size}")
        self.split = split
        self.settings = {"videos": videos, "frames_per_video": frames_per_video, "size": size,
                         "source_scale": source_scale, "artifact_strength": artifact_strength, "noise": noise,
                         "drift": drift, "fake_fraction": fake_fraction, "seed": seed}
        photos = _sample_photographs(source_scale)
        height, width = photos.shape[-2:]
        lo, hi = (int(round(f * width)) for f in PROXY_SPLITS[split])
        margin = drift * frames_per_video
        if hi - lo < size + 2 * margin or height < size + 2 * margin:
            raise ValueError(f"split {split!r} is {hi - lo} pixels wide at source_scale {source_scale}: too narrow "
                             f"for {size}-pixel crops drifting {drift} pixels per frame; raise source_scale")
        rng = np.random.default_rng([seed, list(PROXY_SPLITS).index(split)])
        targets = np.zeros(videos, dtype=np.int64)
        targets[rng.permutation(videos)[: int(round(fake_fraction * videos))]] = 1
        frames = []
        for target in targets:
            photo = photos[rng.integers(len(photos))]
            y = rng.integers(margin, height - size - margin + 1)
            x = rng.integers(lo + margin, hi - size - margin + 1)
            steps = rng.integers(-drift, drift + 1, size=(frames_per_video, 2))
            steps[0] = 0
            path = np.cumsum(steps, axis=0)
            crops = torch.stack([photo[:, y + dy:y + dy + size, x + dx:x + dx + size] for dy, dx in path])
            gain, bias = rng.uniform(0.8, 1.2), rng.uniform(-0.1, 0.1)
            crops = crops * gain + bias
            if target:
                crops = (1 - artifact_strength) * crops + artifact_strength * upsampling_artifact(crops)
            crops = crops + noise * torch.from_numpy(rng.standard_normal(crops.shape)).float()
            frames.append(crops.clamp(0, 1))
        self.frames = torch.stack(frames)  # [videos, frames, 3, size, size]
        self.targets = torch.from_numpy(targets)

    def __len__(self) -> int:
        return self.frames.shape[0] * self.frames.shape[1]

    def __getitem__(self, index: int) -> dict[str, Any]:
        video, frame = divmod(index, self.frames.shape[1])
        return {"image": self.frames[video, frame], "target": self.targets[video],
                "video_id": self.video_id(video), "frame_index": frame}

    def video_id(self, video: int) -> str:
        return f"{self.split}/{video:04d}"

    def sample_id(self, index: int) -> str:
        video, frame = divmod(index, self.frames.shape[1])
        return f"proxy-{self.split}-{video:04d}-f{frame:04d}"

    def video_targets(self) -> dict[str, int]:
        """Label (1 = fake) of every video id, for video-level metrics."""
        return {self.video_id(v): int(t) for v, t in enumerate(self.targets)}

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.frames.numpy().tobytes())
        digest.update(self.targets.numpy().tobytes())
        digest.update(json.dumps(self.settings, sort_keys=True).encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        fake = int(self.targets.sum())
        return {**super().describe(), "split": self.split, **self.settings,
                "label_convention": "target 1 = fake, 0 = real", "real_videos": len(self.targets) - fake,
                "fake_videos": fake, "artifact": "avg-pool 2x2, stride-2 transposed conv [[1,3,1],[3,4,3],[1,3,1]]/5"}


def _sample_photographs(scale: float) -> torch.Tensor:
    """scikit-learn's china.jpg and flower.jpg as float [2, 3, H, W] in [0, 1], resized by ``scale`` (antialiased
    bilinear)."""
    from sklearn.datasets import load_sample_images

    photos = torch.from_numpy(np.stack(load_sample_images().images)).permute(0, 3, 1, 2).float() / 255.0
    if scale != 1.0:
        size = [int(round(s * scale)) for s in photos.shape[-2:]]
        photos = torch.nn.functional.interpolate(photos, size=size, mode="bilinear", align_corners=False,
                                                 antialias=True)
    return photos.clamp(0, 1)
