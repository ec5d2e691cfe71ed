"""Temporal action segmentation on pre-extracted features, in the MS-TCN data release's layout (GTEA, 50Salads,
Breakfast), read as DiffAct's ``dataset.py::get_data_dict`` and ``main.py`` read it.

A video ``<v>`` is ``features/<v>.npy`` (I3D features) plus ``groundTruth/<v>.txt`` (one action name per frame);
``mapping.txt`` gives the class names (their order is the class index; the ids in the file are not read), and
``splits/{train,test}.split{k}.bundle`` list the videos of cross-validation split ``k``. Items are
``{"features": float32 [S, D, T], "target": int64 [T], "video": str}``; S counts "spatial" feature versions
(1 for the usual 2-D files; DiffAct's training picks one at random, its test uses all). Temporal subsampling and
augmentation belong to the method, not here. ``write_example`` writes a tiny learnable dataset in the same
layout, and ``GeneratedActionVideos`` is such a dataset written once under the results root, for demos.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset
from bench.formats.mstcn import read_mapping
from bench.io import sha256_json, write_dir_once
from bench.registry import DATASETS
from bench.safe_pickle import load_npy, npy_shape

#: target of frames whose label is not in the mapping (with ``unknown_labels="ignore"``), as DiffAct sets it
IGNORE_INDEX = -100
UNKNOWN_LABEL_MODES = ("error", "ignore")
SUBSETS = ("train", "test")


def read_bundle(path: str | Path) -> list[str]:
    """Video names from a split bundle (lines ``<video>.txt``), in file order; blank lines and repeats skipped.

    The name is everything before the FIRST dot, DiffAct's ``i.split('.')[0]``: ``rgb-01-1.txt`` and ``rgb-01-1``
    both give ``rgb-01-1``, and a name with a dot of its own (``a.b.txt``) is cut to ``a`` as the official code
    cuts it (no video of the three benchmarks has one). A repeated entry is read once, as DiffAct's dict keyed by
    video keeps it once.
    """
    return list(dict.fromkeys(video_name(line) for line in Path(path).read_text().splitlines() if line.strip()))


def video_name(entry: str) -> str:
    """A bundle entry's video name: stripped, cut at the first dot (DiffAct's ``split('.')[0]``)."""
    return entry.strip().split(".")[0]


def read_labels(path: str | Path) -> list[str]:
    """Per-frame label names of a ``groundTruth`` file: one per line; blank lines (a trailing one, CRLF) skipped."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def feature_layout(shape: tuple[int, ...]) -> tuple[int, int]:
    """(D, T) of a stored feature array as DiffAct interprets its axes; ValueError for other ranks.

    2-D files are (D, T). 3-D files are (T, S, D): DiffAct swaps axes 0 and 1, asserts the new axis 1 is T, then
    takes ``feature[spatial]`` and ``.T``, so the stored axis 0 is time, axis 1 the spatial version, axis 2 D.
    """
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 3:
        return shape[2], shape[0]
    raise ValueError(f"features must be 2-D (D, T) or 3-D (T, S, D), got shape {tuple(shape)}")


def features_sdt(array: np.ndarray) -> np.ndarray:
    """A stored feature array as float32 [S, D, T] (2-D (D, T) gives S = 1; 3-D (T, S, D) is transposed)."""
    feature_layout(array.shape)
    array = array[None] if array.ndim == 2 else array.transpose(1, 2, 0)
    return np.ascontiguousarray(array, dtype=np.float32)


def load_feature_array(path: str | Path, allow_pickle: bool = False) -> np.ndarray:
    """``features/<v>.npy`` as stored (any dtype, axes untouched).

    Numeric files load without pickle. An object array (a pickled payload) is read only when the caller passes
    ``allow_pickle=True`` (DiffAct loads with ``allow_pickle=True``; numeric files never need it), and then with
    the restricted unpickler of ``bench.safe_pickle``, never ``np.load(allow_pickle=True)``: a crafted file
    cannot run code. ValueError naming the file for a corrupt, truncated or refused file.
    """
    shape, dtype = npy_shape(path)
    if dtype.hasobject and not allow_pickle:
        raise ValueError(f"{path} holds a pickled object array (dtype {dtype}, shape {shape}); DiffAct loads such "
                         "files with allow_pickle=True: pass allow_pickle=True to read it with the restricted "
                         "unpickler (numpy arrays only, no code)")
    array = load_npy(path)
    if array.dtype == object and array.ndim == 0:
        array = array.item()
    return np.asarray(array)


def load_features(path: str | Path, allow_pickle: bool = False) -> np.ndarray:
    """``features/<v>.npy`` as float32 [S, D, T] (see :func:`feature_layout` for the stored axes)."""
    return features_sdt(load_feature_array(path, allow_pickle))


def probe_feature_shape(path: Path) -> tuple[int, ...] | None:
    """The stored shape from the .npy header (nothing else read); None for object arrays, whose shape is that of
    the pickled payload. ValueError naming the file when it is not a .npy file or is shorter than its header says."""
    shape, dtype = npy_shape(path)
    return None if dtype.hasobject else shape


@DATASETS.register_module()
class MSTCNVideos(BenchDataset):
    """The videos of one split bundle in the MS-TCN layout, read as DiffAct reads them; presets fix the root.

    Labels and feature headers are read at construction, so a missing file, a length mismatch, a feature size
    that differs between videos or an unknown label fails before a long job starts; features load on first access
    (kept in memory with ``cache``; returned tensors are shared with the cache, do not modify them in place).
    Sample ids are video names in bundle order (or in the order of ``videos``, which must be in the bundle).
    Unlike DiffAct, a label missing from the mapping is an error unless ``unknown_labels="ignore"``, which gives
    DiffAct's -100.
    """

    layout = """
<data_root>/features/<video>.npy       (float, (D, T) = (2048, T) I3D features; or (T, S, D) for S versions)
<data_root>/groundTruth/<video>.txt    (T lines, one action name per frame)
<data_root>/mapping.txt                (lines "<id> <name>"; line order = class index)
<data_root>/splits/train.split<k>.bundle, test.split<k>.bundle   (one "<video>.txt" per line)
"""
    obtain = ("the MS-TCN data release (data.zip: features, groundTruth, mapping.txt and splits of 50salads, gtea "
              "and breakfast; ~30 GB), https://zenodo.org/record/3625992 or the Mega link in DiffAct's and "
              "ASFormer's READMEs; unzip and point data_root at <unzipped>/<dataset>")
    #: number of cross-validation splits (None: not fixed, any split >= 1 whose bundles exist)
    num_splits: int | None = None
    #: number of classes of the official mapping.txt (None: any); another count is refused
    known_num_classes: int | None = None
    #: video names ``write_example`` uses by default, in the benchmark's own naming (``index`` counts from 1)
    example_video_pattern = "video_{index:03d}"

    def __init__(self, data_root: str | Path, split: int, subset: str = "test", features_dir: str = "features",
                 labels_dir: str = "groundTruth", mapping_file: str = "mapping.txt", unknown_labels: str = "error",
                 videos: Sequence[str] | None = None, cache: bool = True, allow_pickle: bool = False) -> None:
        self.validate_split(split)
        if subset not in SUBSETS:
            raise ValueError(f"{type(self).__name__} subset must be one of {SUBSETS}, got {subset!r}")
        if unknown_labels not in UNKNOWN_LABEL_MODES:
            raise ValueError(f"unknown_labels must be one of {UNKNOWN_LABEL_MODES}, got {unknown_labels!r}")
        self.data_root, self.split, self.subset = Path(data_root), int(split), subset
        self.unknown_labels, self.cache, self.allow_pickle = unknown_labels, cache, allow_pickle
        self.features_dir = self.require(self.data_root / features_dir, "features directory")
        self.labels_dir = self.require(self.data_root / labels_dir, "groundTruth directory")
        self.mapping_file = self.require(self.data_root / mapping_file, "mapping file")
        self.bundle_file = self.require(self.data_root / "splits" / f"{subset}.split{split}.bundle", "split bundle")
        try:
            self.class_names = read_mapping(self.mapping_file)
        except ValueError as error:
            raise self.layout_error(self.mapping_file, str(error)) from error
        known = type(self).known_num_classes
        if known is not None and len(self.class_names) != known:
            raise self.layout_error(self.mapping_file, (
                f"{len(self.class_names)} classes listed, but {type(self).__name__}'s mapping.txt has {known}: labels "
                "are line positions, so another list would give the model's outputs other names. Use the mapping.txt "
                "of the MS-TCN release, or read other data with MSTCNVideos"))
        self.videos = self._chosen(read_bundle(self.bundle_file), videos)
        if not self.videos:
            raise self.layout_error(self.bundle_file, "no videos listed")
        self.feature_paths = [self.features_dir / f"{video}.npy" for video in self.videos]
        self.label_paths = [self.labels_dir / f"{video}.txt" for video in self.videos]
        self.targets = [self._read_target(path) for path in self.label_paths]
        self.feature_dim: int | None = None
        self._dim_source: Path | None = None
        for index, path in enumerate(self.feature_paths):
            self.require(path, "feature file")
            with self.reading(path, "a .npy feature file"):
                shape = probe_feature_shape(path)
            if shape is not None:
                self._check_shape(index, shape)
            elif not allow_pickle:
                self._load(index)  # raises the allow_pickle hint as a layout error
        self._features: dict[int, torch.Tensor] = {}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def validate_split(cls, split: int) -> None:
        top = cls.num_splits
        if isinstance(split, bool) or not isinstance(split, int) or split < 1 or (top is not None and split > top):
            allowed = f"1..{top}" if top is not None else ">= 1"
            raise ValueError(f"{cls.__name__} split must be an integer in {allowed} (the cross-validation split k of "
                             f"splits/test.split<k>.bundle), got {split!r}")

    def _chosen(self, bundle: list[str], videos: Sequence[str] | None) -> list[str]:
        if videos is None:
            return bundle
        chosen = list(dict.fromkeys(video_name(v) for v in videos))
        missing = [v for v in chosen if v not in set(bundle)]
        if missing:
            raise ValueError(f"{type(self).__name__}: videos {missing} are not in {self.bundle_file}")
        return chosen


    def _read_target(self, path: Path) -> torch.Tensor:
        self.require(path, "groundTruth file")
        index = {name: i for i, name in enumerate(self.class_names)}
        target: list[int] = []
        with self.reading(path, "a text file of action names"):
            lines = path.read_text().splitlines()
        for number, line in enumerate(lines, start=1):
            label = line.strip()
            if not label:
                continue  # blank lines (a trailing one) are skipped, as np.loadtxt skips them
            if label in index:
                target.append(index[label])
            elif self.unknown_labels == "ignore":
                target.append(IGNORE_INDEX)  # DiffAct: labels outside the mapping are ignored by the loss
            else:
                raise self.layout_error(path, (
                    f"label {label!r} on line {number} (frame {len(target)}) is not in {self.mapping_file}; add it "
                    f"to the mapping, or pass unknown_labels='ignore' to give it target {IGNORE_INDEX} as DiffAct "
                    "does"))
        if not target:
            raise self.layout_error(path, "no labels (expected one action name per frame)")
        return torch.tensor(target, dtype=torch.int64)

    def _check_shape(self, index: int, shape: tuple[int, ...]) -> None:
        feature_path, label_path = self.feature_paths[index], self.label_paths[index]
        try:
            dim, frames = feature_layout(shape)
        except ValueError as error:
            raise self.layout_error(feature_path, str(error)) from error
        labels = len(self.targets[index])
        if frames != labels:
            raise self.layout_error(feature_path, (
                f"{feature_path} has {frames} frames (shape {tuple(shape)}, read as "
                f"{'(D, T)' if len(shape) == 2 else '(T, S, D)'}) but {label_path} has {labels} labels"))
        if self.feature_dim is None:
            self.feature_dim, self._dim_source = dim, feature_path
        elif dim != self.feature_dim:
            raise self.layout_error(feature_path, (
                f"feature size D = {dim} in {feature_path} differs from D = {self.feature_dim} in {self._dim_source}"))

    def _load(self, index: int) -> torch.Tensor:
        try:
            array = load_feature_array(self.feature_paths[index], self.allow_pickle)
        except ValueError as error:
            raise self.layout_error(self.feature_paths[index], str(error)) from error
        self._check_shape(index, array.shape)  # again: pickled files could not be probed at construction
        return torch.from_numpy(features_sdt(array))

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        features = self._features.get(index)
        if features is None:
            features = self._load(index)
            if self.cache:
                self._features[index] = features
        return {"features": features, "target": self.targets[index], "video": self.videos[index]}

    def sample_id(self, index: int) -> str:
        return self.videos[index]

    def fingerprint(self) -> str:
        """sha256 over class names, videos, the parsed targets and the sizes of both files of each video."""
        digest = hashlib.sha256(type(self).__name__.encode())
        digest.update(f"{self.class_names}\0unknown_labels={self.unknown_labels}\0".encode())
        for video, target, feature, label in zip(self.videos, self.targets, self.feature_paths, self.label_paths,
                                                 strict=True):
            digest.update(f"{video}\0{feature.stat().st_size}\0{label.stat().st_size}\0".encode())
            digest.update(target.numpy().tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "data_root": str(self.data_root), "split": self.split, "subset": self.subset,
                "num_classes": self.num_classes, "videos": len(self.videos), "feature_dim": self.feature_dim,
                "bundle": str(self.bundle_file), "unknown_labels": self.unknown_labels}

    # --- tiny examples in the exact layout --------------------------------------------------------------------

    @classmethod
    def write_example(cls, data_root: str | Path, *, num_videos: int = 6, num_splits: int | None = None,
                      class_names: Sequence[str] | None = None, frames: tuple[int, int] | None = None,
                      feature_dim: int = 32, noise: float = 0.5, video_shift: float = 0.0, seed: int = 0,
                      file_names: Sequence[str] | None = None) -> Path:
        """Write a seeded, learnable dataset in the MS-TCN layout; returns ``data_root``.

        Every video follows one shared script (a seeded order of the action classes, ``class_names[1:]``), each
        action kept with probability 0.8, with background (``class_names[0]``) at the start, the end and between
        some actions; segment lengths are random, T is drawn from ``frames``. A frame's feature is its class's
        mean vector (N(0, 1) per dimension) plus a per-video offset (``video_shift``) plus per-frame Gaussian
        noise (``noise``), stored as (D, T) float32. ``num_splits`` (default: the class's, else 1) splits are
        written: test split k holds the videos with index % num_splits == k - 1, train the rest; with one split,
        every third video (index % 3 == 2) is test. ``file_names`` (no dots: the bundle rule cuts at the first
        dot) replace the default names and set the number of videos. ``class_names`` defaults to "background",
        "a", "b", "c" (``action_<k>`` up to a preset's ``known_num_classes``), ``frames`` to (40, 80), or (2C, 4C)
        for C > 20 classes.
        """
        data_root = Path(data_root)
        num_splits = num_splits or cls.num_splits or 1
        if class_names is None:
            extra = ("a", "b", "c") if cls.known_num_classes is None else tuple(
                f"action_{k}" for k in range(1, cls.known_num_classes))
            class_names = ("background", *extra)
        if frames is None:
            frames = (max(40, 2 * len(class_names)), max(80, 4 * len(class_names)))
        if len(class_names) < 2 or len(set(class_names)) != len(class_names):
            raise ValueError(f"class_names needs at least two distinct names, got {list(class_names)}")
        if any(len(name.split()) != 1 for name in class_names):
            raise ValueError("class names cannot contain whitespace (mapping.txt lines are '<id> <name>')")
        names = list(file_names) if file_names is not None else [
            cls.example_video_pattern.format(index=i + 1) for i in range(num_videos)]
        if any("." in name or not name.strip() for name in names) or len(set(names)) != len(names):
            raise ValueError(f"video names must be distinct, non-empty and without dots (DiffAct cuts bundle entries "
                             f"at the first dot), got {names}")
        low, high = frames
        if not 2 * len(class_names) <= low <= high:
            raise ValueError(f"frames must be (low, high) with 2 * len(class_names) <= low <= high, got {frames}")
        rng = np.random.default_rng(seed)
        means = rng.normal(0.0, 1.0, size=(len(class_names), feature_dim))
        script = 1 + rng.permutation(len(class_names) - 1)
        for sub in ("features", "groundTruth", "splits"):
            (data_root / sub).mkdir(parents=True, exist_ok=True)
        (data_root / "mapping.txt").write_text("".join(f"{i} {name}\n" for i, name in enumerate(class_names)))
        for name in names:
            labels = example_labels(rng, script, int(rng.integers(low, high + 1)))
            offset = rng.normal(0.0, video_shift, size=feature_dim)
            features = means[labels] + offset + rng.normal(0.0, noise, size=(len(labels), feature_dim))
            np.save(data_root / "features" / f"{name}.npy", features.T.astype(np.float32))
            (data_root / "groundTruth" / f"{name}.txt").write_text("".join(f"{class_names[c]}\n" for c in labels))
        for k in range(1, num_splits + 1):
            is_test = [(i % num_splits == k - 1) if num_splits > 1 else (i % 3 == 2) for i in range(len(names))]
            for subset, wanted in (("train", False), ("test", True)):
                entries = [f"{name}.txt\n" for name, test in zip(names, is_test, strict=True) if test == wanted]
                (data_root / "splits" / f"{subset}.split{k}.bundle").write_text("".join(entries))
        return data_root


def example_labels(rng: np.random.Generator, script: np.ndarray, frames: int) -> np.ndarray:
    """Frame labels of one scripted video: kept actions in script order, background (0) around and between some,
    at least two segments, random segment lengths of at least one frame."""
    kept = script[rng.random(len(script)) < 0.8]
    if len(kept) == 0:
        kept = script[[int(rng.integers(len(script)))]]
    segments = [0] if rng.random() < 0.5 else []
    for position, action in enumerate(kept):
        if position and rng.random() < 0.3:
            segments.append(0)
        segments.append(int(action))
    if rng.random() < 0.5 or len(segments) < 2:
        segments.append(0)
    lengths = 1 + rng.multinomial(frames - len(segments), rng.dirichlet(np.full(len(segments), 2.0)))
    return np.repeat(np.asarray(segments, dtype=np.int64), lengths)


class _Benchmark(MSTCNVideos):
    """A benchmark of the MS-TCN release: only the root, split, subset and reading options are chosen."""

    default_root = ""

    def __init__(self, data_root: str | Path | None = None, split: int = 1, subset: str = "test",
                 unknown_labels: str = "error", videos: Sequence[str] | None = None, cache: bool = True,
                 allow_pickle: bool = False) -> None:
        super().__init__(data_root or self.default_root, split, subset, unknown_labels=unknown_labels,
                         videos=videos, cache=cache, allow_pickle=allow_pickle)


@DATASETS.register_module()
class GTEA(_Benchmark):
    """GTEA: 28 videos, 11 classes (``background`` is id 10), 4 splits (leave one subject out)."""

    layout = """
<data_root = data/gtea>/features/S1_Cheese_C1.npy       (float, 2048 x T I3D features)
<data_root>/groundTruth/S1_Cheese_C1.txt                (T lines: take, open, ..., background)
<data_root>/mapping.txt                                 (11 lines "<id> <name>", 0 take ... 10 background)
<data_root>/splits/train.split1.bundle ... test.split4.bundle   (lines "S1_Cheese_C1.txt")
"""
    obtain = MSTCNVideos.obtain
    default_root = "data/gtea"
    num_splits = 4
    known_num_classes = 11
    example_video_pattern = "S{index}_Cheese_C1"


@DATASETS.register_module()
class Salads50(_Benchmark):
    """50Salads: 50 videos, 19 classes (with ``action_start``/``action_end``), 5 splits."""

    layout = """
<data_root = data/50salads>/features/rgb-01-1.npy      (float, 2048 x T I3D features)
<data_root>/groundTruth/rgb-01-1.txt                   (T lines: cut_tomato, ..., action_end)
<data_root>/mapping.txt                                (19 lines "<id> <name>")
<data_root>/splits/train.split1.bundle ... test.split5.bundle   (lines "rgb-01-1.txt")
"""
    obtain = MSTCNVideos.obtain
    default_root = "data/50salads"
    num_splits = 5
    known_num_classes = 19
    example_video_pattern = "rgb-{index:02d}-1"


@DATASETS.register_module()
class Breakfast(_Benchmark):
    """Breakfast: 1,712 videos, 48 classes (``SIL`` = background), 4 splits."""

    layout = """
<data_root = data/breakfast>/features/P03_cam01_P03_cereals.npy   (float, 2048 x T I3D features)
<data_root>/groundTruth/P03_cam01_P03_cereals.txt                 (T lines: SIL, take_bowl, ...)
<data_root>/mapping.txt                                           (48 lines "<id> <name>")
<data_root>/splits/train.split1.bundle ... test.split4.bundle     (lines "P03_cam01_P03_cereals.txt")
"""
    obtain = MSTCNVideos.obtain
    default_root = "data/breakfast"
    num_splits = 4
    known_num_classes = 48
    example_video_pattern = "P{index:02d}_cam01_P{index:02d}_cereals"


#: bumped whenever ``write_example`` or the defaults below change what is written (a new folder is then made)
GENERATOR_VERSION = 1
GENERATED_CLASSES = ("background", "take_bowl", "pour_cereals", "pour_milk", "stir", "take_cup", "pour_coffee",
                     "add_sugar", "drink")


@DATASETS.register_module()
class GeneratedActionVideos(MSTCNVideos):
    """A generated breakfast-like dataset for demos and smoke runs, written once in the MS-TCN layout and then read
    through :class:`MSTCNVideos`. Learnable but not trivial: per-frame noise makes single frames ambiguous while
    the shared action order and segment lengths reward temporal context.

    Written with ``write_example`` into ``root`` (default ``<results_root>/datasets/generated_actions-<hash of the
    generator parameters>``) via a temporary sibling folder and ``os.replace``, so a killed run never leaves a
    half-written dataset; an existing root is reused when its ``generator.json`` records the same parameters.
    """

    layout = "written by write_example on first use into <root> (MS-TCN layout, see MSTCNVideos)"
    obtain = "nothing to download: generated from the parameters"

    def __init__(self, num_videos: int = 12, num_splits: int = 1, class_names: Sequence[str] = GENERATED_CLASSES,
                 frames: tuple[int, int] = (120, 240), feature_dim: int = 64, noise: float = 4.0,
                 video_shift: float = 0.5, seed: int = 0, subset: str = "test", split: int = 1,
                 root: str | Path | None = None, cache: bool = True) -> None:
        self.generator = {"version": GENERATOR_VERSION, "num_videos": num_videos, "num_splits": num_splits,
                          "class_names": list(class_names), "frames": list(frames), "feature_dim": feature_dim,
                          "noise": noise, "video_shift": video_shift, "seed": seed}
        if not 1 <= split <= num_splits:
            raise ValueError(f"{type(self).__name__} split must be in 1..{num_splits} (num_splits), got {split!r}")
        if root is None:
            from bench.results import results_root

            root = results_root() / "datasets" / f"generated_actions-{sha256_json(self.generator)[:12]}"
        self.root = Path(root)
        params = {k: v for k, v in self.generator.items() if k != "version"}
        write_dir_once(self.root, self.generator, lambda staging: self.write_example(
            staging, **{**params, "frames": tuple(params["frames"])}), type(self).__name__)
        super().__init__(self.root, split, subset, cache=cache)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "generator": self.generator}
