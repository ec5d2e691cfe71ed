"""Moving-digits video clips with planted content and motion memorization and their ground truth: the training set
and evaluation prompts of the video-memorization demo (issue 29), where the paper's own data has no ground truth.

A clip is one scikit-learn digit (8x8, from :class:`~bench.datasets.digits.Digits`' train split, values / 16 in
[0, 1], upscaled ``scale`` times by nearest neighbour) pasted on a black ``canvas`` x ``canvas`` background at the
``frames`` positions of a :class:`Trajectory`. Positions are integer (row, column) of the digit's top-left pixel, so
a frame's pixels are exactly the digit's inside its box and 0 outside, and the digit's intensity centroid in frame t
is the trajectory's position t plus the digit's own centroid.

One seeded construction (:func:`build_moving_digits`) is shared by the two readers built from the same knobs:

- :class:`MovingDigitsTrain`: items of three kinds. *content* memorization: ``num_content`` clips (one digit on one
  trajectory), each with its own caption "clip <word> <word>", repeated ``copies`` times (that digit occurs nowhere
  else); *motion* memorization: ``num_motion`` trajectories, each with the caption "motion <word>" and ``copies``
  clips of DIFFERENT digits on it (the motion repeats, the content does not); *ordinary*: ``num_ordinary`` clips of
  distinct digits on random trajectories, captioned "digit <class> moving". Ordinary and motion clips never use a
  content digit; every trajectory drawn after a planted one differs from all planted ones.
- :class:`MovingDigitsPrompts`: the planted captions (label 1) with their ground-truth clips (``gt_videos``), then
  the ten class captions (label 0).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset
from bench.datasets.memorization import PromptSet
from bench.datasets.memorization_digits import CLASS_WORDS, RARE_WORDS, _check_range
from bench.registry import DATASETS

TRAJECTORY_KINDS = ("line", "bounce", "circle")
FORMATS = ("float", "uint8")
KINDS = ("ordinary", "content", "motion")
PARTS = ("all", "memorized", "nonmemorized")
BASELINES = ("none", "content", "motion")  # MovingDigitsPrompts' baseline_references
CONTENT_TEMPLATE = "clip {} {}"
MOTION_TEMPLATE = "motion {}"
ORDINARY_TEMPLATE = "digit {} moving"
SOURCE = "scikit-learn's load_digits (8x8), the Digits train split, bundled with scikit-learn"
MAX_SPEED = 4  # bounce speed per axis in pixels per frame: faster reads as jumps, not motion, to a flow estimator


@dataclass(frozen=True)
class Trajectory:
    """Where the digit's top-left pixel is in each frame, fully determined by (kind, a, b, c, d, e).

    - ``line``: start (a, b) = (row, column), velocity (c, d) pixels per frame: position t = start + t * velocity
      (the whole path must stay on the canvas);
    - ``bounce``: the same straight motion reflected at the canvas edges (each axis a triangle wave over
      [0, free], ``free = canvas - digit size``);
    - ``circle``: centre (a, b), radius c, angular step d radians per frame, phase e: position t = round(centre +
      c * (sin(e + t d), cos(e + t d))) (row, column).

    ``e`` is 0 for line and bounce. :meth:`as_tensor` is float32 [6]: (kind index in :data:`TRAJECTORY_KINDS`,
    a, b, c, d, e).
    """

    kind: str
    a: float
    b: float
    c: float
    d: float
    e: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in TRAJECTORY_KINDS:
            raise ValueError(f"Trajectory: kind must be one of {TRAJECTORY_KINDS}, got {self.kind!r}")

    def positions(self, frames: int, free: int) -> np.ndarray:
        """int64 [frames, 2] (row, column) of the digit's top-left pixel; ``free`` is canvas minus digit size.
        A position off [0, free] (a line or circle that leaves the canvas) is an error naming the trajectory."""
        t = np.arange(frames, dtype=np.float64)
        if self.kind == "circle":
            angle = self.e + t * self.d
            out = np.rint(np.stack([self.a + self.c * np.sin(angle), self.b + self.c * np.cos(angle)], axis=1))
        else:
            out = np.stack([self.a + t * self.c, self.b + t * self.d], axis=1)
            if self.kind == "bounce" and free > 0:
                phase = np.mod(out, 2 * free)
                out = np.where(phase <= free, phase, 2 * free - phase)
        positions = np.rint(out).astype(np.int64)
        if positions.min() < 0 or positions.max() > free:
            raise ValueError(f"Trajectory: {self} leaves the canvas within {frames} frames (positions must stay in "
                             f"0..{free}); shorten it or use kind='bounce'")
        return positions

    def as_tensor(self) -> torch.Tensor:
        return torch.tensor([TRAJECTORY_KINDS.index(self.kind), self.a, self.b, self.c, self.d, self.e],
                            dtype=torch.float32)


def random_trajectory(rng: np.random.Generator, frames: int, free: int) -> Trajectory:
    """A trajectory of a kind drawn uniformly from :data:`TRAJECTORY_KINDS` that stays on the canvas and moves.

    Line: an integer velocity per axis with |v| (frames - 1) <= free, not both 0, and an integer start that keeps
    the path on the canvas. Bounce: an integer velocity in -MAX_SPEED..MAX_SPEED per axis, redrawn until the path
    actually reflects at an edge (else it is a line). Circle: an integer radius in 2..free // 2, an integer centre
    at least the radius from the edges, a step of ±2π / frames (one turn per clip) and a phase in [0, 2π) rounded
    to 2 decimals (so the tensor form is exact in float32 up to that rounding)."""
    if frames < 2 or free < frames - 1:
        raise ValueError(f"random_trajectory: needs frames >= 2 and free >= frames - 1 (a line moves at least one "
                         f"pixel a frame), got frames={frames}, free={free}")
    kind = TRAJECTORY_KINDS[int(rng.integers(0, len(TRAJECTORY_KINDS)))]
    if kind == "line":
        limit = free // (frames - 1)
        while True:
            velocity = rng.integers(-limit, limit + 1, size=2)
            if velocity.any():
                break
        span = velocity * (frames - 1)
        start = [int(rng.integers(max(0, -s), min(free, free - s) + 1)) for s in span]
        return Trajectory("line", start[0], start[1], int(velocity[0]), int(velocity[1]))
    if kind == "bounce":
        while True:
            corner = rng.integers(0, free + 1, size=2)
            velocity = rng.integers(-MAX_SPEED, MAX_SPEED + 1, size=2)
            raw = corner[None, :] + np.arange(frames)[:, None] * velocity[None, :]
            if raw.min() < 0 or raw.max() > free:
                return Trajectory("bounce", int(corner[0]), int(corner[1]), int(velocity[0]), int(velocity[1]))
    radius = int(rng.integers(2, free // 2 + 1))
    centre = rng.integers(radius, free - radius + 1, size=2)
    step = float(rng.choice([-1.0, 1.0])) * 2 * math.pi / frames
    phase = round(float(rng.uniform(0, 2 * math.pi)), 2)
    return Trajectory("circle", int(centre[0]), int(centre[1]), radius, step, phase)


def render(digit: np.ndarray, positions: np.ndarray, canvas: int, format: str = "float") -> np.ndarray:
    """The clip of ``digit`` (float (s, s) in [0, 1]) at ``positions`` (int [T, 2]) on a black canvas.

    ``format="float"``: float32 [T, 1, canvas, canvas] in [0, 1] (the readers' convention for training);
    ``"uint8"``: uint8 [T, canvas, canvas, 3], round(255 v) with the grey replicated (what an SSCD-style extractor
    and the flow back-ends read)."""
    if format not in FORMATS:
        raise ValueError(f"render: format must be one of {FORMATS}, got {format!r}")
    size = digit.shape[0]
    clip = np.zeros((len(positions), 1, canvas, canvas), dtype=np.float32)
    for t, (row, column) in enumerate(positions):
        clip[t, 0, row:row + size, column:column + size] = digit
    return clip if format == "float" else _uint8_frames(clip)


def _uint8_frames(clip: np.ndarray) -> np.ndarray:
    """float [T, 1, H, W] in [0, 1] as uint8 [T, H, W, 3]: round(255 v), the grey replicated."""
    grey = np.rint(clip[:, 0] * 255.0).clip(0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=3)


@dataclass(frozen=True)
class MovingDigits:
    """The constructed clips (float32 [N, T, 1, canvas, canvas] in [0, 1]) and their planted memorization."""

    knobs: dict[str, int]
    videos: np.ndarray
    captions: tuple[str, ...]
    kinds: tuple[str, ...]  # "ordinary" | "content" | "motion", per item
    item_ids: tuple[str, ...]
    trajectories: tuple[Trajectory, ...]  # per item
    positions: np.ndarray  # int64 [N, T, 2], per item
    digit_indices: tuple[int, ...]  # load_digits index of each item's digit
    class_labels: tuple[int, ...]
    content_captions: tuple[str, ...]
    motion_captions: tuple[str, ...]
    items_of: dict[str, list[int]]  # caption -> item positions


def _distinct(rng: np.random.Generator, frames: int, free: int, taken: list[Trajectory]) -> Trajectory:
    """A random trajectory whose positions differ from every trajectory in ``taken`` (so ground truth is clean)."""
    seen = [t.positions(frames, free) for t in taken]
    for _ in range(1000):
        candidate = random_trajectory(rng, frames, free)
        path = candidate.positions(frames, free)
        if not any(np.array_equal(path, other) for other in seen):
            return candidate
    raise ValueError(f"MovingDigits: no trajectory distinct from the {len(taken)} planted ones in 1000 draws; "
                     "enlarge canvas or lower num_content / num_motion")


@lru_cache(maxsize=4)
def build_moving_digits(num_content: int = 4, num_motion: int = 4, copies: int = 8, num_ordinary: int = 200,
                        frames: int = 8, canvas: int = 24, scale: int = 1, seed: int = 0, split_seed: int = 0
                        ) -> MovingDigits:
    """The seeded construction both readers share (cached: the same knobs give the same object).

    Draw order from ``np.random.default_rng(seed)``: the content digits and their trajectories, the motion
    trajectories, then per motion trajectory its ``copies`` digits, then the ordinary digits, then per ordinary
    digit its trajectory (redrawn while equal to a planted one)."""
    from bench.datasets.digits import Digits

    where = "MovingDigits"
    _check_range("num_content", num_content, 0, len(RARE_WORDS) // 2, where=where)
    _check_range("num_motion", num_motion, 0, len(RARE_WORDS) - 2 * num_content,
                 f" (2 * num_content + num_motion <= {len(RARE_WORDS)} invented words)", where)
    _check_range("copies", copies, 1, 1024, where=where)
    _check_range("frames", frames, 2, 256, where=where)
    _check_range("scale", scale, 1, 8, where=where)
    size = 8 * scale
    _check_range("canvas", canvas, size + 4, 256, f" (the {size}x{size} digit needs room to move: at least "
                 f"{size + 4} for scale={scale})", where)
    _check_range("seed", seed, 0, 2**32 - 1, where=where)
    base = Digits("train", split_seed=split_seed)
    pool_size = len(base) - num_content
    _check_range("num_ordinary", num_ordinary, 0, pool_size, f" (the Digits train split has {len(base)} images, "
                 f"{num_content} kept for content clips)", where)
    if num_motion and copies > pool_size:
        raise ValueError(f"{where}: copies must be at most {pool_size} (distinct digits per motion trajectory), "
                         f"got {copies}")
    pictures = np.kron(base.images[:, 0].numpy(), np.ones((scale, scale), dtype=np.float32))
    labels = base.targets.numpy()
    free = canvas - size
    if free < frames - 1:
        raise ValueError(f"{where}: canvas={canvas} leaves {free} pixels of travel for the {size}x{size} digit, "
                         f"fewer than frames - 1 = {frames - 1} (a line moves at least one pixel a frame); raise "
                         "canvas or lower frames")
    rng = np.random.default_rng(seed)

    content_digits = rng.choice(len(base), size=num_content, replace=False)
    planted: list[Trajectory] = []
    for _ in range(num_content + num_motion):
        planted.append(_distinct(rng, frames, free, planted))
    pool = np.setdiff1d(np.arange(len(base)), content_digits)
    motion_digits = [rng.choice(pool, size=copies, replace=False) for _ in range(num_motion)]
    ordinary_digits = np.sort(rng.choice(pool, size=num_ordinary, replace=False))
    ordinary_paths = [_distinct(rng, frames, free, planted) for _ in ordinary_digits]

    content_captions = tuple(CONTENT_TEMPLATE.format(RARE_WORDS[2 * i], RARE_WORDS[2 * i + 1])
                             for i in range(num_content))
    motion_captions = tuple(MOTION_TEMPLATE.format(RARE_WORDS[2 * num_content + j]) for j in range(num_motion))
    rows: list[tuple[int, Trajectory, str, str, str]] = []  # (digit, trajectory, caption, kind, id)
    for digit, path in zip(ordinary_digits, ordinary_paths, strict=True):
        rows.append((int(digit), path, ORDINARY_TEMPLATE.format(CLASS_WORDS[labels[digit]]), "ordinary",
                     f"ordinary-{int(base.original_index[digit]):04d}"))
    for i, digit in enumerate(content_digits):
        rows.extend((int(digit), planted[i], content_captions[i], "content", f"content-{i}-{copy}")
                    for copy in range(copies))
    for j, digits in enumerate(motion_digits):
        rows.extend((int(digit), planted[num_content + j], motion_captions[j], "motion", f"motion-{j}-{copy}")
                    for copy, digit in enumerate(digits))

    positions = np.zeros((len(rows), frames, 2), dtype=np.int64)
    videos = np.zeros((len(rows), frames, 1, canvas, canvas), dtype=np.float32)
    for n, (digit, path, _, _, _) in enumerate(rows):
        positions[n] = path.positions(frames, free)
        videos[n] = render(pictures[digit], positions[n], canvas)
    items_of: dict[str, list[int]] = {}
    for n, row in enumerate(rows):
        items_of.setdefault(row[2], []).append(n)
    knobs = {"num_content": num_content, "num_motion": num_motion, "copies": copies, "num_ordinary": num_ordinary,
             "frames": frames, "canvas": canvas, "scale": scale, "seed": seed, "split_seed": split_seed}
    return MovingDigits(
        knobs=knobs, videos=videos, captions=tuple(r[2] for r in rows), kinds=tuple(r[3] for r in rows),
        item_ids=tuple(r[4] for r in rows), trajectories=tuple(r[1] for r in rows), positions=positions,
        digit_indices=tuple(int(base.original_index[r[0]]) for r in rows),
        class_labels=tuple(int(labels[r[0]]) for r in rows), content_captions=content_captions,
        motion_captions=motion_captions, items_of=items_of)


@DATASETS.register_module()
class MovingDigitsTrain(BenchDataset):
    """The training clips with planted content and motion memorization (see the module docstring).

    Items: ``video`` float32 [frames, 1, canvas, canvas] in [0, 1], ``caption`` str, ``kind`` ("ordinary" |
    "content" | "motion"), ``trajectory`` float32 [6] (:meth:`Trajectory.as_tensor`), ``digit_index`` (the
    load_digits index of the digit) and ``class_label`` int. Sample ids: ``ordinary-<load_digits index>``,
    ``content-<i>-<copy>``, ``motion-<j>-<copy>``. ``captions`` lists the distinct captions of the whole
    construction (a tokenizer's words come from them); ``kinds`` keeps only the items of those kinds (default all).
    """

    layout = SOURCE
    obtain = "pip install scikit-learn"

    def __init__(self, num_content: int = 4, num_motion: int = 4, copies: int = 8, num_ordinary: int = 200,
                 frames: int = 8, canvas: int = 24, scale: int = 1, seed: int = 0, split_seed: int = 0,
                 kinds: tuple[str, ...] | list[str] = KINDS) -> None:
        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown or not kinds:
            raise ValueError(f"MovingDigitsTrain: kinds must be a non-empty subset of {KINDS}, got {list(kinds)}")
        self.data = build_moving_digits(num_content, num_motion, copies, num_ordinary, frames, canvas, scale, seed,
                                        split_seed)
        self.videos = torch.from_numpy(self.data.videos.copy())  # the cached arrays stay untouched
        self.captions = sorted(set(self.data.captions))
        self.kinds = tuple(kinds)
        self.positions = [n for n, kind in enumerate(self.data.kinds) if kind in self.kinds]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = self.positions[index]
        data = self.data
        return {"video": self.videos[n], "caption": data.captions[n], "kind": data.kinds[n],
                "trajectory": data.trajectories[n].as_tensor(), "digit_index": data.digit_indices[n],
                "class_label": data.class_labels[n]}

    def sample_id(self, index: int) -> str:
        return self.data.item_ids[self.positions[index]]

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.data.videos.tobytes())
        digest.update("\0".join(self.data.captions).encode())
        if self.kinds != KINDS:
            digest.update(f"\0kinds={','.join(self.kinds)}".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        data = self.data
        counts = {kind: data.kinds.count(kind) for kind in KINDS}
        planted = {caption: str(data.trajectories[data.items_of[caption][0]])
                   for caption in data.content_captions + data.motion_captions}
        return {**super().describe(), **data.knobs, "counts": counts, "kinds": list(self.kinds),
                "upsampling": "nearest", "value_range": [0.0, 1.0], "planted_trajectories": planted}


@DATASETS.register_module()
class MovingDigitsPrompts(PromptSet):
    """Evaluation prompts for a model trained on :class:`MovingDigitsTrain` with the same knobs.

    ``part``: "memorized" (label 1: the ``num_content`` then ``num_motion`` planted captions), "nonmemorized"
    (label 0: the ten "digit <class> moving" captions), or "all" (both, in that order). ``index`` is the position in
    the "all" order, so a prompt keeps its index in every part; sample ids are ``<name>-<index>`` with ``name``
    defaulting to ``moving_digits_<part>``. The instance ``label`` is 1 / 0 for the parts, -1 for "all".

    Extra keys beside :attr:`PromptSet.KEYS`: ``memorization`` ("content" | "motion" | "none"), ``trajectory``
    (float32 [6], the planted trajectory; NaN for "none") and ``gt_videos``, a ragged list of uint8
    [frames, canvas, canvas, 3] clips (batch it with ``bench.method.collate_ragged``): for content the one
    duplicated training clip; for motion all ``copies`` training clips on the trajectory (different digits, the
    same motion: the references a flow similarity compares with); none for non-memorized prompts, unless
    ``baseline_references`` is "content" or "motion": then the k-th class prompt gets the references of the
    (k mod count)-th planted prompt of that kind, so a prompt that memorizes nothing is scored against the same
    number and kind of references as a planted one (the fair baseline for GSSCD / OFS-k; best over every planted
    clip instead, OFS-k's top-3 frame pairs always found a match: 0.97).
    """

    layout = SOURCE
    obtain = "pip install scikit-learn"
    EXTRA_KEYS = ("memorization", "trajectory", "gt_videos")

    def __init__(self, part: str = "all", num_content: int = 4, num_motion: int = 4, copies: int = 8,
                 num_ordinary: int = 200, frames: int = 8, canvas: int = 24, scale: int = 1, seed: int = 0,
                 split_seed: int = 0, name: str | None = None, subset_size: int | None = None, subset_seed: int = 0,
                 subset_mode: str = "random", subset_shuffle_seed: int = 0, baseline_references: str = "none") -> None:
        if part not in PARTS:
            raise ValueError(f"MovingDigitsPrompts: part must be one of {PARTS}, got {part!r}")
        if baseline_references not in BASELINES:
            raise ValueError(f"MovingDigitsPrompts: baseline_references must be one of {BASELINES}, got "
                             f"{baseline_references!r}")
        self.baseline_references = baseline_references
        super().__init__(f"moving_digits_{part}" if name is None else name, subset_size, subset_seed, subset_mode,
                         subset_shuffle_seed)
        self.part = part
        self.label = {"all": -1, "memorized": 1, "nonmemorized": 0}[part]
        self.data = build_moving_digits(num_content, num_motion, copies, num_ordinary, frames, canvas, scale, seed,
                                        split_seed)
        records = [record for record in self._records()
                   if part == "all" or record["label"] == (1 if part == "memorized" else 0)]
        self._select(records)

    def _records(self) -> list[dict[str, Any]]:
        data = self.data
        records: list[dict[str, Any]] = []
        for memorization, captions in (("content", data.content_captions), ("motion", data.motion_captions)):
            for caption in captions:
                members = data.items_of[caption]
                shown = members[:1] if memorization == "content" else members  # content: identical copies
                records.append({"prompt": caption, "label": 1, "index": len(records), "memorization": memorization,
                                "trajectory": data.trajectories[members[0]].as_tensor(),
                                "gt_videos": [_uint8_frames(data.videos[n]) for n in shown]})
        planted = [record["gt_videos"] for record in records if record["memorization"] == self.baseline_references]
        if self.baseline_references != "none" and not planted:
            raise ValueError(f"MovingDigitsPrompts: baseline_references={self.baseline_references!r} needs at least "
                             f"one planted prompt of that kind (num_{self.baseline_references} > 0)")
        for k, word in enumerate(CLASS_WORDS):
            records.append({"prompt": ORDINARY_TEMPLATE.format(word), "label": 0, "index": len(records),
                            "memorization": "none", "trajectory": torch.full((6,), float("nan")),
                            "gt_videos": list(planted[k % len(planted)]) if planted else []})
        return records

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        item["gt_videos"] = [video.copy() for video in item["gt_videos"]]
        item["trajectory"] = item["trajectory"].clone()
        return item

    def fingerprint(self) -> str:
        """sha256 over the construction's knobs and training clips, and the served prompts and labels."""
        digest = hashlib.sha256(f"{sorted(self.data.knobs.items())}\0".encode())
        if self.baseline_references != "none":  # the served references differ; other fingerprints stay as they were
            digest.update(f"baseline_references={self.baseline_references}\0".encode())
        digest.update(self.data.videos.tobytes())
        self._subset_digest(digest)
        for item in self.items:
            digest.update(f"{item['prompt']}\0{item['label']}\0{item['memorization']}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "part": self.part, **self.data.knobs, "upsampling": "nearest",
                "baseline_references": self.baseline_references}
