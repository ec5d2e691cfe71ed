"""Tiny FaceForensics++ and Celeb-DF v2 trees of real mp4 videos (OpenCV, fourcc mp4v) in the official layouts.

Every frame is a flat colour per video with a white square whose left edge encodes the frame index
(:func:`square_x0`) and a yellow "face" patch at :func:`face_box` (it moves with the frame index too). mp4v is
lossy: tests compare with tolerances, or against their own decode of the same file (:func:`decode_all`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

SQUARE = 8  # side of the white square
SQUARE_Y0 = 4
FACE_COLOUR = (230, 200, 60)  # RGB; its blue channel keeps it out of the white-square threshold
BRIGHT = 200  # a pixel whose every channel exceeds this is part of the white square
FPS = 25
FFPP_MANIPULATIONS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
FFPP_SPLITS = {"train": [["000", "001"]], "test": [["002", "003"]]}
#: frames with no box in the box file: 1 is absent, 3 is null (both take the nearest frame's box)
BOXLESS_FRAMES = (1, 3)


def square_x0(frame_index: int, width: int = 48) -> int:
    """Left edge of the white square in frame ``frame_index`` (6 pixels per frame, wrapping inside the frame)."""
    return 2 + (6 * frame_index) % (width - SQUARE - 4)


def face_box(frame_index: int) -> list[int]:
    """The "face" patch [x0, y0, x1, y1] (16 x 20 pixels) of frame ``frame_index``, as written to the box file."""
    return [10 + 2 * frame_index, 16, 26 + 2 * frame_index, 36]


def video_colour(name: str) -> tuple[int, int, int]:
    """A background colour (RGB, each channel in [30, 150)) that differs between videos."""
    digest = hashlib.sha256(name.encode()).digest()
    return tuple(30 + digest[i] % 120 for i in range(3))  # type: ignore[return-value]


def frame_rgb(name: str, frame_index: int, width: int = 48, height: int = 40) -> np.ndarray:
    """Frame ``frame_index`` of video ``name``: its colour, the white square and the face patch (RGB uint8)."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = video_colour(name)
    x0, y0, x1, y1 = face_box(frame_index)
    image[y0:y1, x0:x1] = FACE_COLOUR
    x = square_x0(frame_index, width)
    image[SQUARE_Y0:SQUARE_Y0 + SQUARE, x:x + SQUARE] = 255
    return image


def write_video(path: Path, name: str, frames: int = 6, width: int = 48, height: int = 40) -> Path:
    """An mp4v video of ``frames`` :func:`frame_rgb` frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write mp4v video {path} (no FFMPEG backend?)")
    for index in range(frames):
        writer.write(cv2.cvtColor(frame_rgb(name, index, width, height), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def decode_all(path: Path) -> list[np.ndarray]:
    """Every frame of ``path`` as RGB uint8, read in order (the reference the cached crops are checked against)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def bright_box(image: np.ndarray) -> list[int] | None:
    """[x0, y0, x1, y1] (exclusive ends) of the white square in an RGB image, None if there is none."""
    ys, xs = np.nonzero(image.min(axis=2) > BRIGHT)
    if not len(xs):
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def fake_detector(frame: np.ndarray) -> list[int] | None:
    """A stand-in face detector: the box of the yellow patch, or None ("no face") once the white square's left
    edge passes the middle of the frame (frames 4 and 5 of a 48-pixel-wide video)."""
    square = bright_box(frame)
    if square is None or square[0] > frame.shape[1] // 2:
        return None
    close = np.abs(frame.astype(int) - np.array(FACE_COLOUR)).max(axis=2) < 40
    ys, xs = np.nonzero(close)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if len(xs) else None


def boxes_for(video_ids: Iterable[str], frames: int) -> dict[str, dict[str, list[int] | None]]:
    """The box file content: :func:`face_box` for each frame, frame 1 left out and frame 3 null."""
    return {video_id: {str(i): (None if i == 3 else face_box(i)) for i in range(frames) if i != 1}
            for video_id in video_ids}


def write_ffpp(root: str | Path, ids: Sequence[str] = ("000", "001", "002", "003"), compression: str = "c23",
               manipulations: Sequence[str] = FFPP_MANIPULATIONS, frames: int = 6, width: int = 48, height: int = 40,
               splits: Mapping[str, list[list[str]]] | None = None) -> Path:
    """FaceForensics++ in the official layout: the real videos ``ids``, each split pair's a_b and b_a fakes per
    manipulation, ``splits/<split>.json`` and ``boxes.json`` (keys: the reader's video ids)."""
    root = Path(root)
    splits = FFPP_SPLITS if splits is None else splits
    video_ids = []
    for video_id in ids:
        write_video(root / "original_sequences/youtube" / compression / "videos" / f"{video_id}.mp4",
                    f"original/{video_id}", frames, width, height)
        video_ids.append(f"original/{video_id}")
    fakes = [f"{x}_{y}" for pairs in splits.values() for a, b in pairs for x, y in ((a, b), (b, a))]
    for method in manipulations:
        for name in fakes:
            write_video(root / "manipulated_sequences" / method / compression / "videos" / f"{name}.mp4",
                        f"{method}/{name}", frames, width, height)
            video_ids.append(f"{method}/{name}")
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for split, pairs in splits.items():
        (root / "splits" / f"{split}.json").write_text(json.dumps(pairs, indent=2))
    (root / "boxes.json").write_text(json.dumps(boxes_for(video_ids, frames)))
    return root


CELEBDF_VIDEOS = {
    "Celeb-real": ("id0_0000", "id1_0000", "id2_0000"),
    "YouTube-real": ("00000", "00001"),
    "Celeb-synthesis": ("id0_id1_0000", "id1_id0_0000", "id0_id2_0000", "id2_id0_0000", "id1_id2_0000"),
}
CELEBDF_TEST = ("YouTube-real/00001", "Celeb-synthesis/id1_id2_0000", "Celeb-real/id2_0000",
                "Celeb-synthesis/id2_id0_0000")


def write_celebdf(root: str | Path, videos: Mapping[str, Sequence[str]] | None = None,
                  test: Sequence[str] = CELEBDF_TEST, frames: int = 6, width: int = 48, height: int = 40) -> Path:
    """Celeb-DF v2's layout: the three folders and ``List_of_testing_videos.txt`` with the official labels
    (1 = real, 0 = fake), listing ``test`` (video ids) in that order; ``boxes.json`` as for FF++."""
    root = Path(root)
    videos = CELEBDF_VIDEOS if videos is None else videos
    for folder, names in videos.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for name in names:
            write_video(root / folder / f"{name}.mp4", f"{folder}/{name}", frames, width, height)
    lines = [f"{0 if video.startswith('Celeb-synthesis/') else 1} {video}.mp4" for video in test]
    (root / "List_of_testing_videos.txt").write_text("\n".join(lines) + "\n")
    ids = [f"{folder}/{name}" for folder, names in videos.items() for name in names]
    (root / "boxes.json").write_text(json.dumps(boxes_for(ids, frames)))
    return root
