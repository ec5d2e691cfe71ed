"""Surgical action triplet recognition on CholecT45 and CholecT50 (CAMMA), read in their official layouts.

Each frame's target is the 131-d multi-hot vector [ivt (100) | i (6) | v (10) | t (15)] that DiffTriplet denoises;
the official 5-fold cross-validation (Nwoye & Padoy 2022) and challenge splits choose the videos. Frame features
are optional ``<VID>.npy`` files (the datasets ship frames only). ``write_cholect45_example`` and
``write_cholect50_example`` write small seeded datasets in the exact layouts; ``GeneratedSurgicalVideos`` is one
written once under the results root, for demos.
"""
from __future__ import annotations

import hashlib
import json
import numbers
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset, is_hidden
from bench.datasets.action_segmentation import load_feature_array, probe_feature_shape
from bench.formats.cholec import format_mapping, official_mapping, read_mapping
from bench.io import sha256_json, write_dir_once
from bench.registry import DATASETS

COMPONENT_SIZES = {"ivt": 100, "i": 6, "v": 10, "t": 15}
JOINT_SLICES = {"ivt": slice(0, 100), "i": slice(100, 106), "v": slice(106, 116), "t": slice(116, 131)}
JOINT_CHANNELS = 131
#: CholecT45 label folder and dict file name of each block of the joint vector
COMPONENT_FILES = {"ivt": "triplet", "i": "instrument", "v": "verb", "t": "target"}

INSTRUMENTS = ("grasper", "bipolar", "hook", "scissors", "clipper", "irrigator")
VERBS = ("grasp", "retract", "dissect", "coagulate", "clip", "cut", "aspirate", "irrigate", "pack", "null_verb")
TARGETS = ("gallbladder", "cystic_plate", "cystic_duct", "cystic_artery", "cystic_pedicle", "blood_vessel", "fluid",
           "abdominal_wall_cavity", "liver", "adhesion", "omentum", "peritoneum", "gut", "specimen_bag", "null_target")
#: CholecT50 phase categories (the Cholec80 phases, spelled as in the label JSON files)
PHASES = ("preparation", "carlot-triangle-dissection", "clipping-and-cutting", "gallbladder-dissection",
          "gallbladder-packaging", "cleaning-and-coagulation", "gallbladder-extraction")

#: CholecT50 instance vector (docs/README-Format.md): 0 triplet ID; 1-6 instrument ID, SC, BX, BY, BW, BH; 7 verb ID;
#: 8-13 target ID, SC, BX, BY, BW, BH; 14 phase ID. -1 = null or absent.
INSTANCE_LENGTH = 15
INSTANCE_IDS = {"ivt": 0, "i": 1, "v": 7, "t": 8}
PHASE_FIELD = 14
LABEL_KEYS = ("video", "fps", "num_frames", "categories", "annotations", "info", "licenses")

VARIANTS = ("CholecT45", "CholecT50")
SPLITS = ("cv", "challenge")
SUBSETS = ("train", "test")

#: official cross-validation folds (Nwoye & Padoy 2022, arXiv 2204.05235, Fig. 1 of the CholecT50 README-Splits);
#: the last video of each fold is in CholecT50 only
CV_FOLDS_T50: dict[int, tuple[str, ...]] = {
    1: ("VID79", "VID02", "VID51", "VID06", "VID25", "VID14", "VID66", "VID23", "VID50", "VID111"),
    2: ("VID80", "VID32", "VID05", "VID15", "VID40", "VID47", "VID26", "VID48", "VID70", "VID96"),
    3: ("VID31", "VID57", "VID36", "VID18", "VID52", "VID68", "VID10", "VID08", "VID73", "VID103"),
    4: ("VID42", "VID29", "VID60", "VID27", "VID65", "VID75", "VID22", "VID49", "VID12", "VID110"),
    5: ("VID78", "VID43", "VID62", "VID35", "VID74", "VID01", "VID56", "VID04", "VID13", "VID92"),
}
#: test videos of the CholecTriplet challenge split (trained on the 45 CholecT45 videos)
CHALLENGE_TEST = ("VID92", "VID96", "VID103", "VID110", "VID111")


# --- splits -----------------------------------------------------------------------------------------------------

def check_variant(variant: str) -> None:
    """ValueError unless ``variant`` is one of :data:`VARIANTS`."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")


def cv_folds(variant: str) -> dict[int, tuple[str, ...]]:
    """The official 5 folds of ``variant``: CholecT45 drops the last (CholecT50-only) video of each fold."""
    check_variant(variant)
    cut = 0 if variant == "CholecT50" else 1
    return {fold: videos[:len(videos) - cut] for fold, videos in CV_FOLDS_T50.items()}


def split_videos(variant: str, split: str, fold: int | None = None,
                 available: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """(train, test) video names of an official split; ``available`` keeps only those names (generated data).

    ``split="cv"``: test = fold ``fold`` (1..5), train = the other folds in ascending order. ``split="challenge"``
    (CholecT50 only): test = :data:`CHALLENGE_TEST`, train = the 45 CholecT45 videos in fold order.
    """
    check_variant(variant)
    if split == "cv":
        folds = cv_folds(variant)
        if isinstance(fold, bool) or not isinstance(fold, numbers.Integral) or int(fold) not in folds:
            raise ValueError(f"fold must be an integer in 1..{len(folds)} for split='cv', got {fold!r}")
        test = list(folds[int(fold)])
        train = [video for k in sorted(folds) if k != int(fold) for video in folds[k]]
    elif split == "challenge":
        if variant != "CholecT50":
            raise ValueError(f"split='challenge' needs variant 'CholecT50': {variant} does not contain the challenge "
                             f"test videos {CHALLENGE_TEST}; use split='cv' (folds 1..5)")
        test = list(CHALLENGE_TEST)
        train = [video for k in sorted(CV_FOLDS_T50) for video in CV_FOLDS_T50[k] if video not in CHALLENGE_TEST]
    else:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if available is not None:
        keep = set(available)
        train, test = [v for v in train if v in keep], [v for v in test if v in keep]
    return train, test


# --- official text files ----------------------------------------------------------------------------------------

def read_names(path: str | Path) -> list[str]:
    """Category names from a CholecT45 ``dict/<component>.txt`` (lines ``<id>:<name>``, ids 0..n-1 in order).

    A line with id -1 (a null class some copies list) is skipped: it has no channel in the label files.
    """
    names: list[str] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        text = line.strip()
        if not text:
            continue
        key, colon, name = text.partition(":")
        try:
            index = int(key)
        except ValueError:
            index = None
        if not colon or index is None or not name.strip():
            raise ValueError(f"{path}, line {number}: expected '<id>:<name>', got {text!r}")
        if index == -1:
            continue
        if index != len(names):
            raise ValueError(f"{path}, line {number}: id {index} where {len(names)} was expected (ids must be "
                             "0, 1, ... in order)")
        names.append(name.strip())
    if not names:
        raise ValueError(f"{path}: no '<id>:<name>' lines")
    return names


def read_label_table(path: str | Path, width: int) -> np.ndarray:
    """int64 [T, 1 + width] of a CholecT45 label file: per line the frame index, then ``width`` 0/1 labels."""
    expected = f"lines of {1 + width} comma-separated integers (frame index, then {width} 0/1 labels)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # empty file: reported below
            table = np.loadtxt(path, delimiter=",", dtype=np.int64, ndmin=2)
    except ValueError as error:
        raise ValueError(f"{path}: expected {expected} ({error})") from None
    if table.shape[0] == 0:
        raise ValueError(f"{path}: no rows (expected {expected})")
    if table.shape[1] != 1 + width:
        raise ValueError(f"{path}: {table.shape[1]} columns, expected {expected}")
    if not np.isin(table[:, 1:], (0, 1)).all():
        row = int(np.flatnonzero(~np.isin(table[:, 1:], (0, 1)).all(axis=1))[0])
        raise ValueError(f"{path}, row {row + 1}: labels must be 0 or 1, got {table[row, 1:].tolist()}")
    return table


def cholect50_target(payload: dict[str, Any], path: str | Path) -> np.ndarray:
    """int64 [T, 131] target of one CholecT50 label JSON: each instance's triplet, instrument, verb and target id set
    their channels (-1 = none); frames are the ``annotations`` keys 0..T-1."""
    annotations = payload.get("annotations")
    if not isinstance(annotations, dict) or not annotations:
        raise ValueError(f"{path}: no 'annotations' dict (frame index → list of 15-value instances)")
    try:
        frames = sorted(int(key) for key in annotations)
    except ValueError:
        raise ValueError(f"{path}: 'annotations' keys must be frame indices ('0', '1', ...)") from None
    if frames != list(range(len(frames))):
        missing = sorted(set(range(frames[-1] + 1)) - set(frames))[:5]
        raise ValueError(f"{path}: annotated frames must be 0..{len(frames) - 1} without gaps; missing {missing}")
    declared = payload.get("num_frames")
    if declared is not None and int(declared) != len(frames):
        raise ValueError(f"{path}: num_frames is {declared} but 'annotations' has {len(frames)} frames")
    target = np.zeros((len(frames), JOINT_CHANNELS), dtype=np.int64)
    for frame in frames:
        for instance in annotations[str(frame)]:
            if not isinstance(instance, list) or len(instance) != INSTANCE_LENGTH:
                raise ValueError(f"{path}, frame {frame}: instances must be lists of {INSTANCE_LENGTH} values "
                                 f"(docs/README-Format.md), got {instance!r}")
            for component, position in INSTANCE_IDS.items():
                value = instance[position]
                if value == -1:
                    continue
                valid = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
                if not valid or not 0 <= int(value) < COMPONENT_SIZES[component]:
                    raise ValueError(f"{path}, frame {frame}: {COMPONENT_FILES[component]} id {value!r} (field "
                                     f"{position}) is not -1 or an id in 0..{COMPONENT_SIZES[component] - 1}")
                target[frame, JOINT_SLICES[component].start + int(value)] = 1
    return target


def category_names(payload: dict[str, Any], path: str | Path) -> dict[str, list[str]]:
    """Names per block (ivt, i, v, t) from a CholecT50 label JSON's ``categories`` ({component: {"id": name}})."""
    categories = payload.get("categories")
    if isinstance(categories, list):  # the format doc calls it a list of per-task dictionaries
        categories = {key: value for entry in categories if isinstance(entry, dict) for key, value in entry.items()}
    if not isinstance(categories, dict):
        raise ValueError(f"{path}: no 'categories' with triplet, instrument, verb and target names")
    names: dict[str, list[str]] = {}
    for component, key in COMPONENT_FILES.items():
        table = categories.get(key)
        if not isinstance(table, dict) or sorted(map(int, table)) != list(range(COMPONENT_SIZES[component])):
            raise ValueError(f"{path}: categories[{key!r}] must map ids '0'..'{COMPONENT_SIZES[component] - 1}' to "
                             "names")
        names[component] = [table[str(i)] for i in range(COMPONENT_SIZES[component])]
    return names


def triplet_names(mapping: np.ndarray) -> list[str]:
    """``"instrument,verb,target"`` of each triplet, as in ``dict/triplet.txt`` and the JSON categories."""
    return [f"{INSTRUMENTS[i]},{VERBS[v]},{TARGETS[t]}" for i, v, t in np.asarray(mapping)[:, 1:4].tolist()]


# --- readers ----------------------------------------------------------------------------------------------------

class _TripletVideos(BenchDataset):
    """Videos of one official split with [T, 131] targets and optional (T, D) frame features.

    Labels, the mapping, names and feature headers are read at construction, so a missing file or a length
    mismatch fails before a long job starts; features load on first access (kept with ``cache``). Items are
    ``{"index", "video", "target": float32 [T, 131]}`` plus ``"features": float32 [1, D, T]`` with ``features_dir``.
    ``names`` and the blocks of ``target`` share the keys of :data:`JOINT_SLICES` (ivt, i, v, t); ``mapping`` is
    the int64 [100, 6] table of :data:`MAPPING_COLUMNS`.
    """

    variant = ""
    default_root = ""
    mapping_file = ""
    frames_dir = ""
    num_classes = JOINT_CHANNELS

    def __init__(self, data_root: str | Path | None = None, split: str = "cv", fold: int | None = 1,
                 subset: str = "test", features_dir: str | None = None, videos: Sequence[str] | None = None,
                 cache: bool = True, frames: bool = False) -> None:
        if subset not in SUBSETS:
            raise ValueError(f"{type(self).__name__} subset must be one of {SUBSETS}, got {subset!r}")
        train, test = split_videos(self.variant, split, fold, self.available_videos())
        self.videos: list[str] = list(dict.fromkeys(videos)) if videos is not None else (
            train if subset == "train" else test)
        if not self.videos:
            raise ValueError(f"{type(self).__name__}: no videos for split={split!r}, fold={fold!r}, subset={subset!r}")
        self.data_root = Path(data_root or self.default_root)
        self.split, self.fold, self.subset, self.cache = split, fold if split == "cv" else None, subset, cache
        self.with_frames = frames
        self.require(self.data_root, "dataset root")
        path = self.require(self.data_root / self.mapping_file, "triplet mapping file")
        self.mapping = self._parsed(path, read_mapping, path)
        self.targets = [torch.from_numpy(self._read_target(video).astype(np.float32)) for video in self.videos]
        self.names = self._read_names()
        self.features_dir: Path | None = None
        self.feature_dim: int | None = None
        self._features: dict[int, torch.Tensor] = {}
        if features_dir is not None:
            self.features_dir = self.require(self.data_root / features_dir, "features directory")
            for index in range(len(self.videos)):
                self._check_features(index)

    def available_videos(self) -> Sequence[str] | None:
        """Videos present in the data (None: all of the official lists); generated data has fewer."""
        return None

    def label_paths(self, video: str) -> list[Path]:
        """The label file(s) of ``video``; the first is the one its frame count is reported against."""
        raise NotImplementedError

    def _read_target(self, video: str) -> np.ndarray:
        raise NotImplementedError

    def _read_names(self) -> dict[str, list[str]]:
        raise NotImplementedError


    def _parsed(self, path: Path, parse: Callable[..., Any], *args: Any) -> Any:
        try:
            return parse(*args)
        except ValueError as error:
            raise self.layout_error(path, str(error)) from error

    def feature_path(self, video: str) -> Path:
        if self.features_dir is None:
            raise ValueError(f"{type(self).__name__} was built without features_dir")
        return self.features_dir / f"{video}.npy"

    def _check_features(self, index: int, shape: tuple[int, ...] | None = None) -> None:
        video = self.videos[index]
        path = self.require(self.feature_path(video), "feature file")
        shape = shape or self._parsed(path, probe_feature_shape, path)
        if shape is None:  # not a plain array: loading raises the pickle hint
            shape = self._parsed(path, load_feature_array, path).shape
        if len(shape) != 2:
            raise self.layout_error(path, f"features must be 2-D (T, D), got shape {tuple(shape)}")
        frames, labels = shape[0], len(self.targets[index])
        if frames != labels:
            raise self.layout_error(path, f"{path} has {frames} frames (shape {tuple(shape)}, read as (T, D)) but "
                                          f"{self.label_paths(video)[0]} has {labels} labelled frames")
        if self.feature_dim is None:
            self.feature_dim = int(shape[1])
        elif shape[1] != self.feature_dim:
            raise self.layout_error(path, f"feature size D = {shape[1]} in {path} differs from D = "
                                          f"{self.feature_dim} in {self.feature_path(self.videos[0])}")

    def _load(self, index: int) -> torch.Tensor:
        path = self.feature_path(self.videos[index])
        array = self._parsed(path, load_feature_array, path)
        self._check_features(index, tuple(array.shape))
        return torch.from_numpy(np.ascontiguousarray(array.T[None], dtype=np.float32))

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"index": index, "video": self.videos[index], "target": self.targets[index]}
        if self.features_dir is not None:
            features = self._features.get(index)
            if features is None:
                features = self._load(index)
                if self.cache:
                    self._features[index] = features
            item["features"] = features
        if self.with_frames:  # for a method that extracts its own features (DiffTriplet's per-fold backbone)
            item["frames"] = [str(path) for path in self.frame_paths(self.videos[index])]
        return item

    def sample_id(self, index: int) -> str:
        return self.videos[index]

    def frame_paths(self, video: str) -> list[Path]:
        """The PNG frames of ``video`` in order; their number must equal its labelled frames."""
        if video not in self.videos:
            raise ValueError(f"{video!r} is not one of this dataset's videos {self.videos}")
        folder = self.require(self.data_root / self.frames_dir / video, "frame folder")
        paths = sorted(path for path in folder.glob("*.png") if not is_hidden(path))  # no AppleDouble ._*.png
        labels = len(self.targets[self.videos.index(video)])
        if len(paths) != labels:
            raise self.layout_error(folder, f"{len(paths)} PNG frames in {folder} but {self.label_paths(video)[0]} "
                                            f"has {labels} labelled frames")
        return paths

    def fingerprint(self) -> str:
        """sha256 over the variant, videos, the parsed targets and the sizes of their label (and feature) files."""
        digest = hashlib.sha256(type(self).__name__.encode())
        digest.update(self.mapping.tobytes())
        for video, target in zip(self.videos, self.targets, strict=True):
            sizes = [path.stat().st_size for path in self.label_paths(video)]
            if self.features_dir is not None:
                sizes.append(self.feature_path(video).stat().st_size)
            digest.update(f"{video}\0{sizes}\0".encode())
            digest.update(np.packbits(target.numpy().astype(np.uint8)).tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "variant": self.variant, "split": self.split, "fold": self.fold,
                "subset": self.subset, "data_root": str(self.data_root), "videos": len(self.videos),
                "features_dir": str(self.features_dir) if self.features_dir is not None else None,
                "feature_dim": self.feature_dim, "num_classes": self.num_classes}


@DATASETS.register_module()
class CholecT45(_TripletVideos):
    """CholecT45: 45 videos at 1 fps, labels as per-frame 0/1 tables (triplet, instrument, verb, target)."""

    layout = """
<data_root = data/CholecT45>/data/VID01/000000.png ...   (frames at 1 fps; read only by frame_paths)
<data_root>/triplet/VID01.txt       (one line per frame: "<frame>,<100 comma-separated 0/1>", frames 0, 1, ...)
<data_root>/instrument/VID01.txt    ("<frame>,<6 x 0/1>")
<data_root>/verb/VID01.txt          ("<frame>,<10 x 0/1>")
<data_root>/target/VID01.txt        ("<frame>,<15 x 0/1>")
<data_root>/dict/triplet.txt, instrument.txt, verb.txt, target.txt   (lines "<id>:<name>", "0:grasper,dissect,...")
<data_root>/dict/maps.txt           ("# IVT, I, V, T, IV, IT", then 100 lines "ivt,i,v,t,iv,it")
<data_root>/<features_dir>/VID01.npy   (optional: float (T, D) frame features, one row per labelled frame)
"""
    obtain = ("CholecT45 via the CAMMA request form linked from https://github.com/CAMMA-public/cholect45 (licence "
              "CC BY-NC-SA 4.0); unzip and point data_root at the CholecT45 folder. Frame features are not "
              "distributed: extract them per fold (a backbone trained on that fold's train videos) into features_dir")
    variant = "CholecT45"
    default_root = "data/CholecT45"
    mapping_file = "dict/maps.txt"
    frames_dir = "data"

    def label_paths(self, video: str) -> list[Path]:
        return [self.data_root / folder / f"{video}.txt" for folder in COMPONENT_FILES.values()]

    def _read_target(self, video: str) -> np.ndarray:
        paths = self.label_paths(video)
        tables = []
        for (component, size), path in zip(COMPONENT_SIZES.items(), paths, strict=True):
            self.require(path, f"{COMPONENT_FILES[component]} label file")
            tables.append(self._parsed(path, read_label_table, path, size))
        frames = tables[0][:, 0]
        if not np.array_equal(frames, np.arange(len(frames))):
            row = int(np.flatnonzero(frames != np.arange(len(frames)))[0])
            raise self.layout_error(paths[0], f"frame indices must be 0, 1, ... in order; row {row + 1} has frame "
                                              f"{frames[row]}")
        for path, table in zip(paths[1:], tables[1:], strict=True):
            if len(table) != len(frames):
                raise self.layout_error(path, f"{path} has {len(table)} frames but {paths[0]} has {len(frames)}")
            if not np.array_equal(table[:, 0], frames):
                row = int(np.flatnonzero(table[:, 0] != frames)[0])
                raise self.layout_error(path, f"frame indices differ between {paths[0]} and {path}: row {row + 1} "
                                              f"has frame {frames[row]} in the first and {table[row, 0]} in the second")
        return np.concatenate([table[:, 1:] for table in tables], axis=1)

    def _read_names(self) -> dict[str, list[str]]:
        names = {}
        for component, stem in COMPONENT_FILES.items():
            path = self.require(self.data_root / "dict" / f"{stem}.txt", f"dict/{stem}.txt names file")
            names[component] = self._parsed(path, read_names, path)
            if len(names[component]) != COMPONENT_SIZES[component]:
                raise self.layout_error(path, f"{len(names[component])} names, expected {COMPONENT_SIZES[component]}")
        return names


@DATASETS.register_module()
class CholecT50(_TripletVideos):
    """CholecT50: 50 videos at 1 fps, one label JSON per video (instances per frame, CholecT50 format)."""

    layout = """
<data_root = data/CholecT50>/videos/VID01/000000.png ...   (frames at 1 fps; read only by frame_paths)
<data_root>/labels/VID01.json       (keys video, fps, num_frames, categories, annotations, info, licenses;
                                     annotations: {"<frame>": [[15 values: triplet id, instrument id/score/box,
                                     verb id, target id/score/box, phase id], ...]}, -1 = none)
<data_root>/label_mapping.txt       ("# IVT, I, V, T, IV, IT", then 100 lines "ivt,i,v,t,iv,it")
<data_root>/<features_dir>/VID01.npy   (optional: float (T, D) frame features, one row per labelled frame)
"""
    obtain = ("CholecT50 via the CAMMA request form linked from https://github.com/CAMMA-public/cholect50 (licence "
              "CC BY-NC-SA 4.0); unzip and point data_root at the CholecT50 folder. Frame features are not "
              "distributed: extract them per fold into features_dir")
    variant = "CholecT50"
    default_root = "data/CholecT50"
    mapping_file = "label_mapping.txt"
    frames_dir = "videos"

    def label_paths(self, video: str) -> list[Path]:
        return [self.data_root / "labels" / f"{video}.json"]

    def _payload(self, video: str) -> tuple[Path, dict[str, Any]]:
        path = self.require(self.label_paths(video)[0], "label JSON file")
        with self.reading(path, "a CholecT50 label JSON file"):
            payload = json.loads(path.read_text())
        if not isinstance(payload, dict):
            raise self.layout_error(path, f"expected a JSON object with keys {LABEL_KEYS}")
        return path, payload

    def _read_target(self, video: str) -> np.ndarray:
        path, payload = self._payload(video)
        return self._parsed(path, cholect50_target, payload, path)

    def _read_names(self) -> dict[str, list[str]]:
        path, payload = self._payload(self.videos[0])
        return self._parsed(path, category_names, payload, path)


# --- seeded examples in the exact layouts -----------------------------------------------------------------------

def generate_labels(rng: np.random.Generator, mapping: np.ndarray, num_frames: int) -> np.ndarray:
    """int64 [T, 131] correlated labels: consecutive phases of 5-20 frames, each with 0-2 triplets drawn from the
    triplets of one or two instruments; the i, v, t channels are those of the active triplets (via ``mapping``)."""
    mapping = np.asarray(mapping)
    labels = np.zeros((num_frames, JOINT_CHANNELS), dtype=np.int64)
    start = 0
    while start < num_frames:
        end = min(num_frames, start + int(rng.integers(5, 21)))
        instruments = rng.choice(len(INSTRUMENTS), size=int(rng.integers(1, 3)), replace=False)
        pool = np.flatnonzero(np.isin(mapping[:, 1], instruments))
        count = min(int(rng.choice(3, p=(0.15, 0.55, 0.3))), len(pool))
        for triplet in rng.choice(pool, size=count, replace=False):
            labels[start:end, triplet] = 1
            for component, column in (("i", 1), ("v", 2), ("t", 3)):
                labels[start:end, JOINT_SLICES[component].start + mapping[triplet, column]] = 1
        start = end
    return labels


def example_labels(videos: Sequence[str], frames: tuple[int, int], seed: int,
                   mapping: np.ndarray) -> dict[str, np.ndarray]:
    """Seeded labels of each video (T drawn from ``frames``): the same for both layouts' writers."""
    low, high = frames
    if not 1 <= low <= high:
        raise ValueError(f"frames must be (low, high) with 1 <= low <= high, got {frames}")
    if not videos or len(set(videos)) != len(videos):
        raise ValueError(f"videos must be distinct names, got {list(videos)}")
    rng = np.random.default_rng(seed)
    return {video: generate_labels(rng, mapping, int(rng.integers(low, high + 1))) for video in videos}


def example_features(labels: dict[str, np.ndarray], feature_dim: int, seed: int, noise: float,
                     triplet_signal: float) -> dict[str, np.ndarray]:
    """float32 (T, D) features: a fixed random projection of the 131-d label vector (triplet channels scaled by
    ``triplet_signal``) plus N(0, noise²) per frame and dimension."""
    rng = np.random.default_rng([seed, 1])
    weights = rng.normal(size=(JOINT_CHANNELS, feature_dim))
    weights[JOINT_SLICES["ivt"]] *= triplet_signal
    return {video: (target @ weights + rng.normal(0.0, noise, size=(len(target), feature_dim))).astype(np.float32)
            for video, target in labels.items()}


def write_frames(folder: Path, num_frames: int, image_size: tuple[int, int]) -> None:
    """``000000.png``, ... tiny gray frames (value = frame index mod 256), as the datasets name their frames."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    height, width = image_size
    for frame in range(num_frames):
        Image.fromarray(np.full((height, width, 3), frame % 256, np.uint8)).save(folder / f"{frame:06d}.png")


def _write_common(root: Path, labels: dict[str, np.ndarray], frames_dir: str, seed: int,
                  image_size: tuple[int, int] | None, feature_dim: int | None, features_dir: str, noise: float,
                  triplet_signal: float) -> None:
    if image_size is not None:
        for video, target in labels.items():
            write_frames(root / frames_dir / video, len(target), image_size)
    if feature_dim is not None:
        (root / features_dir).mkdir(parents=True, exist_ok=True)
        for video, features in example_features(labels, feature_dim, seed, noise, triplet_signal).items():
            np.save(root / features_dir / f"{video}.npy", features)


def _label_text(target: np.ndarray) -> str:
    return "".join(f"{frame}," + ",".join(map(str, row)) + "\n" for frame, row in enumerate(target.tolist()))


def write_cholect45_example(root: str | Path, *, videos: Sequence[str], frames: tuple[int, int] = (20, 40),
                            seed: int = 0, image_size: tuple[int, int] | None = (8, 8), feature_dim: int | None = None,
                            features_dir: str = "features", mapping: np.ndarray | None = None, noise: float = 0.5,
                            triplet_signal: float = 1.0) -> Path:
    """Write seeded videos in the official CholecT45 layout (see :class:`CholecT45`); returns ``root``.

    Labels come from :func:`generate_labels`; PNG frames are written when ``image_size`` is given, features
    (:func:`example_features`) when ``feature_dim`` is. ``mapping`` defaults to the official table (ivtmetrics).
    """
    root = Path(root)
    mapping = official_mapping() if mapping is None else np.asarray(mapping, dtype=np.int64)
    labels = example_labels(videos, frames, seed, mapping)
    for folder in (*COMPONENT_FILES.values(), "dict"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for video, target in labels.items():
        for component, folder in COMPONENT_FILES.items():
            (root / folder / f"{video}.txt").write_text(_label_text(target[:, JOINT_SLICES[component]]))
    all_names = {"triplet": triplet_names(mapping), "instrument": INSTRUMENTS, "verb": VERBS, "target": TARGETS}
    for stem, names in all_names.items():
        (root / "dict" / f"{stem}.txt").write_text("".join(f"{i}:{name}\n" for i, name in enumerate(names)))
    (root / "dict" / "maps.txt").write_text(format_mapping(mapping))
    _write_common(root, labels, "data", seed, image_size, feature_dim, features_dir, noise, triplet_signal)
    return root


def cholect50_instances(target: np.ndarray, mapping: np.ndarray, phase: int) -> list[list[float]]:
    """One frame's instance vectors in the official order: one per active triplet (scores 1, boxes -1), or a single
    all-null instance that keeps the phase when no triplet is active."""
    instances = []
    for triplet in np.flatnonzero(target[JOINT_SLICES["ivt"]]).tolist():
        i, v, t = (int(x) for x in mapping[triplet, 1:4])
        instances.append([triplet, i, 1.0, -1.0, -1.0, -1.0, -1.0, v, t, 1.0, -1.0, -1.0, -1.0, -1.0, phase])
    return instances or [[-1] * (INSTANCE_LENGTH - 1) + [phase]]


def write_cholect50_example(root: str | Path, *, videos: Sequence[str], frames: tuple[int, int] = (20, 40),
                            seed: int = 0, image_size: tuple[int, int] | None = (8, 8), feature_dim: int | None = None,
                            features_dir: str = "features", mapping: np.ndarray | None = None, noise: float = 0.5,
                            triplet_signal: float = 1.0) -> Path:
    """Write seeded videos in the official CholecT50 layout (see :class:`CholecT50`); returns ``root``.

    Same labels, frames and features as :func:`write_cholect45_example` with the same arguments; phases rise
    through the video in seven equal parts.
    """
    root = Path(root)
    mapping = official_mapping() if mapping is None else np.asarray(mapping, dtype=np.int64)
    labels = example_labels(videos, frames, seed, mapping)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    categories = {key: {str(i): name for i, name in enumerate(names)} for key, names in (
        ("triplet", triplet_names(mapping)), ("instrument", INSTRUMENTS), ("verb", VERBS), ("target", TARGETS),
        ("phase", PHASES))}
    for video, target in labels.items():
        phases = len(PHASES) * np.arange(len(target)) // len(target)
        payload = {
            "video": int(video.removeprefix("VID")) if video.removeprefix("VID").isdigit() else video,
            "fps": 1, "num_frames": len(target), "categories": categories,
            "annotations": {str(f): cholect50_instances(row, mapping, int(phases[f])) for f, row in enumerate(target)},
            "info": "generated example in the CholecT50 label format (bench.datasets.cholec_triplet); bbox format: "
                    "x1, y1, width, height scaled by the image size, -1 when absent",
            "licenses": "generated data, no licence restrictions",
        }
        (root / "labels" / f"{video}.json").write_text(json.dumps(payload))
    (root / "label_mapping.txt").write_text(format_mapping(mapping))
    _write_common(root, labels, "videos", seed, image_size, feature_dim, features_dir, noise, triplet_signal)
    return root


# --- generated demo dataset -------------------------------------------------------------------------------------

#: bumped whenever the writers or the defaults below change what is written (a new folder is then made)
GENERATOR_VERSION = 1


@DATASETS.register_module()
class GeneratedSurgicalVideos(CholecT45):
    """A generated CholecT45-like dataset with features, for demos and smoke runs; read through :class:`CholecT45`.

    The first ``videos_per_fold`` videos of each official CholecT45 fold are written (so the official fold lists
    give train and test), with correlated labels from :func:`generate_labels` and no PNGs. Features are a fixed
    random projection of the label vector plus per-frame noise (``noise``): the instrument, verb and target
    channels project at full strength, the triplet channels only at ``triplet_signal``. Which of the triplets that
    share an instrument is active is therefore weakly visible on its own, and triplet recognition has to combine
    the component evidence (the association DiffTriplet exploits): with the defaults, per-frame logistic regression
    on fold 1 reaches mean AP about 0.93 / 0.87 / 0.79 for i / v / t, 0.51 for ivt read directly and 0.83 for ivt
    scored as the product of its components' probabilities. Written once into ``root`` (default
    ``<results_root>/datasets/generated_surgical-<hash of the parameters>``) via a temporary sibling folder and
    ``os.replace``, and reused when its ``generator.json`` matches.
    """

    layout = ("written by write_cholect45_example on first use into <root> (CholecT45 layout without frames, plus "
              "features/<VID>.npy (T, D))")
    obtain = "nothing to download: generated from the parameters"

    def __init__(self, videos_per_fold: int = 3, frames: tuple[int, int] = (60, 120), feature_dim: int = 48,
                 noise: float = 2.0, triplet_signal: float = 0.3, seed: int = 0, split: str = "cv",
                 fold: int | None = 1, subset: str = "test", root: str | Path | None = None,
                 cache: bool = True) -> None:
        folds = cv_folds("CholecT45")
        if isinstance(videos_per_fold, bool) or not isinstance(videos_per_fold, int) or not (
                1 <= videos_per_fold <= min(map(len, folds.values()))):
            raise ValueError(f"videos_per_fold must be in 1..9 (videos per CholecT45 fold), got {videos_per_fold!r}")
        self.generated_videos = [video for k in sorted(folds) for video in folds[k][:videos_per_fold]]
        mapping = official_mapping()
        self.generator = {"version": GENERATOR_VERSION, "videos_per_fold": videos_per_fold, "frames": list(frames),
                          "feature_dim": feature_dim, "noise": noise, "triplet_signal": triplet_signal, "seed": seed,
                          "mapping": sha256_json(mapping.tolist())[:12]}
        if root is None:
            from bench.results import results_root

            root = results_root() / "datasets" / f"generated_surgical-{sha256_json(self.generator)[:12]}"
        self.root = Path(root)
        write_dir_once(self.root, self.generator, lambda staging: write_cholect45_example(
            staging, videos=self.generated_videos, frames=tuple(frames), seed=seed, image_size=None,
            feature_dim=feature_dim, mapping=mapping, noise=noise, triplet_signal=triplet_signal),
            type(self).__name__)
        super().__init__(self.root, split, fold, subset, features_dir="features", cache=cache)

    def available_videos(self) -> Sequence[str] | None:
        return self.generated_videos

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "generator": self.generator}
