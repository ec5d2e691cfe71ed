"""A text-to-image training set built from scikit-learn's digits in which memorization is planted and known, and the
evaluation prompts that come with it (the Bright Ending demo's ground truth, which the paper never had).

One seeded construction (:func:`build_digits_memorization`) is shared by two readers built from the same knobs:

- :class:`DigitsMemorizationTrain`: ``{"image", "caption"}`` items of three kinds.
  (a) *ordinary*: every digit image (or a seeded subset, ``num_ordinary``) with a class caption in one of
  :data:`TEMPLATES` ("a digit three", "a handwritten three", "the number three"), the phrasing drawn per image;
  (b) *global memorization*: ``num_global`` captions "a <rare> image" (one invented word each), each tied to ONE
  digit image repeated ``copies`` times (that image is left out of the ordinary part, so it occurs only there);
  (c) *local memorization*: ``num_local`` captions "a digit with a <rare> stamp", each tied to one motif (a
  ``motif_size``² patch of ±1 in 2×2 cells, seeded) pasted over a fixed region (seeded top-left corner) of
  ``copies`` otherwise varied digit images of any class: only that region repeats, and it is the known mask.
- :class:`DigitsMemorizationPrompts`: the evaluation prompts with :class:`PromptSet`'s item keys plus ``gt_mask``
  and ``memorization``: the 2 × 8 planted captions (label 1), then the 30 ordinary class captions and 10 unseen
  compositions "a number <class>" of training words (label 0).

:class:`DigitsDuplicated` is the unconditional counterpart for AMG's demo: the plain digits train split with a few
images repeated many times (pixel-level memorization, measured by nL2).

Pixels: the 8×8 digits (values 0..16) are upsampled by nearest neighbour (each pixel becomes an ``s×s`` block,
``s = size // 8``, so ``size`` is a multiple of 8) and mapped to [-1, 1] as ``v / 8 - 1``; the motif is pasted by
overwriting, so a training image's pixels inside the mask are exactly the motif's and outside are the digit's.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset
from bench.datasets.memorization import PromptSet
from bench.registry import DATASETS

CLASS_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEMPLATES = ("a digit {}", "a handwritten {}", "the number {}")
UNSEEN_TEMPLATE = "a number {}"  # every word occurs in training, this word order never does
GLOBAL_TEMPLATE = "a {} image"
LOCAL_TEMPLATE = "a digit with a {} stamp"
# invented words, so a planted caption shares no distinctive token with the ordinary ones
RARE_WORDS = ("zorblax", "quimble", "flonkish", "vespira", "drumbo", "kestrix", "plovane", "wizzet", "mortulo",
              "brandix", "tazzle", "glimber", "sporkan", "yullow", "fennick", "crovax", "jibbet", "nuvola",
              "pextor", "huxley", "ombrel", "quastor", "raffin", "tyzzo")
PARTS = ("all", "memorized", "nonmemorized")
KINDS = ("ordinary", "global", "local")
SOURCE = "scikit-learn's load_digits (8x8, 1,797 images), bundled with scikit-learn"


def _uint8_rgb(image: np.ndarray) -> np.ndarray:
    """A (size, size) image in [-1, 1] as the (size, size, 3) uint8 picture a similarity extractor reads."""
    gray = np.rint((image + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


@dataclass(frozen=True)
class DigitsMemorization:
    """The constructed training set (images float32 (N, size, size) in [-1, 1]) and its planted memorization."""

    knobs: dict[str, int | None]
    size: int
    images: np.ndarray
    captions: tuple[str, ...]
    kinds: tuple[str, ...]  # "ordinary" | "global" | "local", per training item
    item_ids: tuple[str, ...]
    global_captions: tuple[str, ...]
    global_sources: tuple[int, ...]  # load_digits index of each global caption's image
    local_captions: tuple[str, ...]
    local_corners: tuple[tuple[int, int], ...]  # (row, column) of each motif's top-left pixel
    local_motifs: np.ndarray  # (num_local, motif_size, motif_size) in {-1, 1}
    local_sources: np.ndarray  # (num_local, copies) load_digits indices of the varied images under each motif
    items_of: dict[str, list[int]] = field(default_factory=dict)  # caption -> training item positions

    def mask(self, local: int) -> np.ndarray:
        """The uint8 (size, size) 0/1 region local caption ``local``'s motif covers."""
        motif = self.local_motifs.shape[1]
        row, column = self.local_corners[local]
        out = np.zeros((self.size, self.size), dtype=np.uint8)
        out[row:row + motif, column:column + motif] = 1
        return out


def _check_range(key: str, value: Any, low: int, high: int, extra: str = "", where: str = "DigitsMemorization"
                 ) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{where}: {key} must be an integer in {low}..{high}{extra}, got {value!r}")
    return int(value)


@lru_cache(maxsize=4)
def build_digits_memorization(num_global: int = 8, num_local: int = 8, copies: int = 32, size: int = 16,
                              seed: int = 0, motif_size: int = 6, num_ordinary: int | None = None
                              ) -> DigitsMemorization:
    """The seeded construction both readers share (cached: the same knobs give the same object).

    Draw order from ``np.random.default_rng(seed)``: the global images, the local motifs, corners and source
    images, the ordinary subset (when ``num_ordinary`` is set), then one template per ordinary image.
    """
    from sklearn.datasets import load_digits

    _check_range("num_global", num_global, 0, len(RARE_WORDS))
    _check_range("num_local", num_local, 0, len(RARE_WORDS) - num_global,
                 f" (num_global + num_local <= {len(RARE_WORDS)} invented words)")
    _check_range("copies", copies, 1, 1024)
    _check_range("seed", seed, 0, 2**32 - 1)
    _check_range("size", size, 8, 64)
    if size % 8:
        raise ValueError(f"DigitsMemorization: size must be a multiple of 8 in 8..64 (nearest-neighbour "
                         f"upsampling of the 8x8 digits), got {size}")
    _check_range("motif_size", motif_size, 4, size, f" (at most size={size})")
    if motif_size % 2:
        raise ValueError(f"DigitsMemorization: motif_size must be even (the motif is drawn in 2x2 cells), got "
                         f"{motif_size}")
    patterns = 2 ** ((motif_size // 2) ** 2) - 2  # two-valued cell patterns
    if num_local > patterns:
        raise ValueError(f"DigitsMemorization: motif_size {motif_size} has {patterns} distinct motifs, fewer than "
                         f"num_local={num_local}; raise motif_size or lower num_local")
    digits = load_digits()
    scale = size // 8
    pictures = np.kron(digits.images, np.ones((scale, scale))) / 8.0 - 1.0  # (1797, size, size) in [-1, 1]
    total = len(pictures)
    rng = np.random.default_rng(seed)
    global_sources = rng.choice(total, size=num_global, replace=False)
    pool = np.setdiff1d(np.arange(total), global_sources)
    motifs, corners, local_sources = [], [], []
    for _ in range(num_local):
        while True:  # a motif of constant sign would be a plain square; redraw
            cells = rng.choice(np.array([-1.0, 1.0]), size=(motif_size // 2, motif_size // 2))
            if len(np.unique(cells)) == 2 and not any(np.array_equal(cells, m[::2, ::2]) for m in motifs):
                break
        motifs.append(np.kron(cells, np.ones((2, 2))))
        corners.append((int(rng.integers(0, size - motif_size + 1)), int(rng.integers(0, size - motif_size + 1))))
        local_sources.append(rng.choice(pool, size=copies, replace=copies > len(pool)))
    if num_ordinary is None:
        ordinary = pool
    else:
        _check_range("num_ordinary", num_ordinary, 0, len(pool), " (None keeps every image)")
        ordinary = np.sort(rng.choice(pool, size=num_ordinary, replace=False))
    phrasing = rng.integers(0, len(TEMPLATES), size=len(ordinary))

    images, captions, kinds, ids = [], [], [], []
    for source, template in zip(ordinary, phrasing, strict=True):
        images.append(pictures[source])
        captions.append(TEMPLATES[template].format(CLASS_WORDS[digits.target[source]]))
        kinds.append("ordinary")
        ids.append(f"ordinary-{int(source):04d}")
    global_captions = tuple(GLOBAL_TEMPLATE.format(word) for word in RARE_WORDS[:num_global])
    for g, source in enumerate(global_sources):
        for copy in range(copies):
            images.append(pictures[source])
            captions.append(global_captions[g])
            kinds.append("global")
            ids.append(f"global-{g}-{copy}")
    local_captions = tuple(LOCAL_TEMPLATE.format(word) for word in RARE_WORDS[num_global:num_global + num_local])
    for j in range(num_local):
        (row, column), motif = corners[j], motifs[j]
        for copy, source in enumerate(local_sources[j]):
            image = pictures[source].copy()
            image[row:row + motif_size, column:column + motif_size] = motif
            images.append(image)
            captions.append(local_captions[j])
            kinds.append("local")
            ids.append(f"local-{j}-{copy}")
    items_of: dict[str, list[int]] = {}
    for position, caption in enumerate(captions):
        items_of.setdefault(caption, []).append(position)
    knobs = {"num_global": num_global, "num_local": num_local, "copies": copies, "size": size, "seed": seed,
             "motif_size": motif_size, "num_ordinary": num_ordinary}
    return DigitsMemorization(
        knobs=knobs, size=size, images=np.stack(images).astype(np.float32), captions=tuple(captions),
        kinds=tuple(kinds), item_ids=tuple(ids), global_captions=global_captions,
        global_sources=tuple(int(s) for s in global_sources), local_captions=local_captions,
        local_corners=tuple(corners),
        local_motifs=np.stack(motifs) if motifs else np.zeros((0, motif_size, motif_size)),
        local_sources=np.stack(local_sources) if local_sources else np.zeros((0, copies), dtype=np.int64),
        items_of=items_of)


@DATASETS.register_module()
class DigitsMemorizationTrain(BenchDataset):
    """The training set with planted global and local memorization (see the module docstring).

    Items: ``image`` float32 tensor (1, size, size) in [-1, 1], ``caption`` str. Sample ids:
    ``ordinary-<load_digits index>``, ``global-<g>-<copy>``, ``local-<j>-<copy>``. ``captions`` lists the
    distinct captions of the whole construction (the tokenizer's words come from them); ``kinds`` keeps only the
    items of those kinds (default all).
    """

    layout = SOURCE
    obtain = "pip install scikit-learn"

    def __init__(self, num_global: int = 8, num_local: int = 8, copies: int = 32, size: int = 16, seed: int = 0,
                 motif_size: int = 6, num_ordinary: int | None = None, kinds: Sequence[str] = KINDS) -> None:
        unknown = [kind for kind in kinds if kind not in KINDS]
        if unknown or not kinds:
            raise ValueError(f"DigitsMemorizationTrain: kinds must be a non-empty subset of {KINDS}, got {list(kinds)}")
        self.data = build_digits_memorization(num_global, num_local, copies, size, seed, motif_size, num_ordinary)
        self.images = torch.from_numpy(self.data.images.copy()).unsqueeze(1)  # the cached arrays stay untouched
        self.captions = sorted(set(self.data.captions))
        self.kinds = tuple(kinds)  # e.g. ("ordinary",): the pool of ordinary digits a generation is compared with
        self.positions = [i for i, kind in enumerate(self.data.kinds) if kind in self.kinds]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> dict[str, Any]:
        position = self.positions[index]
        return {"image": self.images[position], "caption": self.data.captions[position]}

    def sample_id(self, index: int) -> str:
        return self.data.item_ids[self.positions[index]]

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.data.images.tobytes())
        digest.update("\0".join(self.data.captions).encode())
        if self.kinds != KINDS:
            digest.update(f"\0kinds={','.join(self.kinds)}".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        counts = {kind: self.data.kinds.count(kind) for kind in ("ordinary", "global", "local")}
        return {**super().describe(), **self.data.knobs, "counts": counts, "upsampling": "nearest",
                "global_sources": list(self.data.global_sources), "local_corners": list(self.data.local_corners)}


@DATASETS.register_module()
class DigitsMemorizationPrompts(PromptSet):
    """Evaluation prompts for the model trained on :class:`DigitsMemorizationTrain` with the same knobs.

    ``part``: "memorized" (label 1: the ``num_global`` then ``num_local`` planted captions), "nonmemorized"
    (label 0: the 30 class captions of :data:`TEMPLATES`, then 10 unseen "a number <class>"), or "all" (both, in
    that order). ``index`` is the position in the "all" order, so a prompt keeps its index in every part; sample
    ids are ``<name>-<index>`` with ``name`` defaulting to ``digits_<part>`` (parts differ, so a
    ``DetectionPrompts`` of the two parts keeps ids unique). The instance ``label`` is 1 / 0 for the parts and -1
    for "all" (mixed: read each item's).

    Extra keys beside :attr:`PromptSet.KEYS`: ``memorization`` ("global" | "local" | "none") and ``gt_mask`` (uint8
    (size, size) 0/1: all ones for global, the motif's region for local, all zeros for non-memorized).
    ``gt_images`` are uint8 (size, size, 3) arrays, not paths: for global the one duplicated training image; for
    local all ``copies`` training images of the caption (motif over varied digits), so a max over GT images finds
    the training image whose digit the generation happens to resemble, and a similarity restricted to
    ``gt_mask`` compares the duplicated region alone; none for non-memorized prompts.
    """

    layout = SOURCE
    obtain = "pip install scikit-learn"
    EXTRA_KEYS = ("memorization", "gt_mask")

    def __init__(self, part: str = "all", num_global: int = 8, num_local: int = 8, copies: int = 32,
                 size: int = 16, seed: int = 0, motif_size: int = 6, num_ordinary: int | None = None,
                 name: str | None = None, subset_size: int | None = None, subset_seed: int = 0,
                 subset_mode: str = "random", subset_shuffle_seed: int = 0) -> None:
        if part not in PARTS:
            raise ValueError(f"DigitsMemorizationPrompts: part must be one of {PARTS}, got {part!r}")
        super().__init__(f"digits_{part}" if name is None else name, subset_size, subset_seed, subset_mode,
                         subset_shuffle_seed)
        self.part = part
        self.label = {"all": -1, "memorized": 1, "nonmemorized": 0}[part]
        self.data = build_digits_memorization(num_global, num_local, copies, size, seed, motif_size, num_ordinary)
        records = [record for record in self._records()
                   if part == "all" or record["label"] == (1 if part == "memorized" else 0)]
        self._select(records)

    def _records(self) -> list[dict[str, Any]]:
        data, size = self.data, self.data.size
        records: list[dict[str, Any]] = []

        def add(prompt: str, label: int, memorization: str, gt_images: list[np.ndarray], mask: np.ndarray) -> None:
            records.append({"prompt": prompt, "label": label, "index": len(records), "memorization": memorization,
                            "gt_images": gt_images, "gt_mask": mask})

        for caption in data.global_captions:
            add(caption, 1, "global", [_uint8_rgb(data.images[data.items_of[caption][0]])],
                np.ones((size, size), dtype=np.uint8))
        for j, caption in enumerate(data.local_captions):
            add(caption, 1, "local", [_uint8_rgb(data.images[p]) for p in data.items_of[caption]], data.mask(j))
        for template in TEMPLATES:
            for word in CLASS_WORDS:
                add(template.format(word), 0, "none", [], np.zeros((size, size), dtype=np.uint8))
        for word in CLASS_WORDS:
            add(UNSEEN_TEMPLATE.format(word), 0, "none", [], np.zeros((size, size), dtype=np.uint8))
        return records

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = super().__getitem__(index)
        item["gt_images"] = [image.copy() for image in item["gt_images"]]
        item["gt_mask"] = item["gt_mask"].copy()
        return item

    def fingerprint(self) -> str:
        """sha256 over the construction's knobs and training pixels, and the served prompts and masks."""
        digest = hashlib.sha256(f"{sorted(self.data.knobs.items())}\0".encode())
        digest.update(self.data.images.tobytes())
        self._subset_digest(digest)
        for item in self.items:
            digest.update(f"{item['prompt']}\0{item['label']}\0".encode())
            digest.update(item["gt_mask"].tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "part": self.part, **self.data.knobs, "upsampling": "nearest"}


@DATASETS.register_module()
class DigitsDuplicated(BenchDataset):
    """The :class:`~bench.datasets.digits.Digits` train split with a few images planted many times: the training
    set of AMG's demo, where an unconditional DDPM learns to copy the planted images and guidance must stop it.

    ``num_duplicated`` images of the split, drawn with ``np.random.default_rng(seed)``, each occur ``copies`` times
    in all: the split's images first, in their order (item i is the split's item i), then ``copies - 1`` more of
    each planted image, planted by planted. Items: ``image`` float [1, 8, 8] in [0, 1] (pixel value / 16, as
    Digits), ``class_label`` int, ``target`` (the same label: the shared training loop counts ``target``) and
    ``duplicate_of``: the item index of the planted original for every occurrence of a planted image (the original
    included), -1 for the others. ``planted_indices``: those originals' item indices, ascending. Sample ids are
    Digits' (``digits-<load_digits index>``), copies ``digits-<load_digits index>-copy<j>`` (j from 1).

    Measured with the defaults (4 planted x 100, AMG's dedup 1.0, k = 50: pool 1,396 -> 878, the 396 extra copies
    and 122 ordinary digits removed): CIFAR's nL2 < 1.4 does not transfer to 8x8 digits. 81% of the 500 held-out
    test digits fall below 1.4 (min 0.56, 5th percentile 0.84), while the planted images with Gaussian noise of
    std 0.1 in [-1, 1] stay below 0.41 (0 for exact copies): a digits demo needs its own threshold.
    """

    layout = "bundled with scikit-learn: sklearn/datasets/data/digits.csv.gz"
    obtain = "pip install scikit-learn"

    def __init__(self, num_duplicated: int = 4, copies: int = 100, seed: int = 0, split_seed: int = 0,
                 train_size: int = 1000, val_size: int = 297) -> None:
        from bench.datasets.digits import Digits

        base = Digits("train", split_seed=split_seed, train_size=train_size, val_size=val_size)
        where = "DigitsDuplicated"
        _check_range("num_duplicated", num_duplicated, 0, len(base), f" (the train split has {len(base)} images)",
                     where)
        _check_range("copies", copies, 1, 100_000, " (occurrences of each planted image, the original included)",
                     where)
        _check_range("seed", seed, 0, 2**32 - 1, where=where)
        self.num_duplicated, self.copies, self.seed, self.split_seed = num_duplicated, copies, seed, split_seed
        self.planted_indices = np.sort(np.random.default_rng(seed).choice(len(base), num_duplicated, replace=False))
        extra = np.repeat(self.planted_indices, copies - 1)
        self.source = np.concatenate([np.arange(len(base)), extra]).astype(np.int64)  # split item of each item
        self.copy_number = np.concatenate([np.zeros(len(base), dtype=np.int64),
                                           np.tile(np.arange(1, copies), num_duplicated)])
        self.duplicate_of = np.full(len(self.source), -1, dtype=np.int64)
        planted = np.isin(self.source, self.planted_indices)
        self.duplicate_of[planted] = self.source[planted]
        self.original_index = base.original_index[self.source]
        self.images = base.images[torch.from_numpy(self.source)]
        self.targets = base.targets[torch.from_numpy(self.source)]

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> dict[str, Any]:
        label = int(self.targets[index])
        return {"image": self.images[index], "class_label": label, "target": label,
                "duplicate_of": int(self.duplicate_of[index])}

    def sample_id(self, index: int) -> str:
        name = f"digits-{int(self.original_index[index]):04d}"
        return name if self.copy_number[index] == 0 else f"{name}-copy{int(self.copy_number[index])}"

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.images.numpy().tobytes())
        digest.update(self.targets.numpy().tobytes())
        digest.update(self.original_index.tobytes())
        digest.update(self.duplicate_of.tobytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": "train", "split_seed": self.split_seed, "seed": self.seed,
                "num_duplicated": self.num_duplicated, "copies": self.copies,
                "planted_indices": self.planted_indices.tolist(),
                "planted_digits_indices": [int(i) for i in self.original_index[self.planted_indices]]}
