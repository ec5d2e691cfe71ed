"""Collages and the words around them: g x g tiling under an arrangement, cutting a collage back into tiles, the
paper's prompt templates, and a parser of the indexed answer that never raises on malformed text.

Convention (shared with the predictor and the searches): an arrangement is a LongTensor ``arr`` of length g*g where
``arr[p]`` is the index (into the collage's list of images) of the image placed at grid position ``p``, row-major
(left to right, top to bottom): the order the prompt asks the model to answer in.
"""
from __future__ import annotations

import ast
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

GRIDS = (2, 3)


def check_grid(grid: int) -> int:
    """``grid`` if it is one of the paper's (2 or 3), else a ValueError naming the setting."""
    if int(grid) not in GRIDS or isinstance(grid, bool):
        raise ValueError(f"collage grid must be one of {GRIDS} (a g x g collage), got {grid!r}")
    return int(grid)


def check_arrangement(arrangement: torch.Tensor | Sequence[int], n: int) -> torch.Tensor:
    """``arrangement`` as a LongTensor [n] if it is a permutation of 0..n-1, else a ValueError saying what is wrong."""
    arr = torch.as_tensor(arrangement, dtype=torch.long).flatten()
    if arr.numel() != n or sorted(arr.tolist()) != list(range(n)):
        raise ValueError(f"an arrangement of {n} images must be a permutation of 0..{n - 1} (arr[p] = image at grid "
                         f"position p), got {arr.tolist()}")
    return arr


def to_uint8_hwc(image: np.ndarray | torch.Tensor) -> np.ndarray:
    """An image as uint8 [H, W, 3]: accepts uint8 or float-in-[0, 1] arrays, channels first (a reader's [C, H, W]
    tensor) or last, with 1 or 3 channels (grey is repeated), or a 2-D grey image."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3):
        raise ValueError(f"an image must be [H, W], [H, W, 1|3] or [1|3, H, W], got shape {tuple(array.shape)}")
    if array.dtype != np.uint8:
        array = np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    return np.repeat(array, 3, axis=-1) if array.shape[-1] == 1 else array


def resize_tile(image: np.ndarray | torch.Tensor, tile_size: int) -> np.ndarray:
    """``image`` as a uint8 [tile_size, tile_size, 3] square (PIL bicubic; nearest when upsampling by a whole
    factor, so small images such as 8 x 8 digits stay sharp and a round trip is exact)."""
    array = to_uint8_hwc(image)
    height, width = array.shape[:2]
    if (height, width) == (tile_size, tile_size):
        return array
    exact = tile_size % height == 0 and tile_size % width == 0 and height == width
    resample = Image.Resampling.NEAREST if exact else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(array).resize((tile_size, tile_size), resample))


def make_collage(images: Sequence[np.ndarray | torch.Tensor], arrangement: torch.Tensor | Sequence[int], grid: int,
                 tile_size: int) -> np.ndarray:
    """The g x g collage (uint8 [g*T, g*T, 3]) with image ``arrangement[p]`` resized to T x T at grid position p."""
    grid = check_grid(grid)
    if len(images) != grid * grid:
        raise ValueError(f"a {grid}x{grid} collage needs {grid * grid} images, got {len(images)}")
    if int(tile_size) < 1:
        raise ValueError(f"tile_size must be a positive number of pixels, got {tile_size!r}")
    arr = check_arrangement(arrangement, grid * grid)
    collage = np.zeros((grid * tile_size, grid * tile_size, 3), dtype=np.uint8)
    for position, index in enumerate(arr.tolist()):
        row, col = divmod(position, grid)
        collage[row * tile_size:(row + 1) * tile_size, col * tile_size:(col + 1) * tile_size] = resize_tile(
            images[index], tile_size)
    return collage


def cut_collage(collage: np.ndarray, grid: int) -> list[np.ndarray]:
    """The tiles of a g x g collage in grid-position order (row-major); the inverse of :func:`make_collage` up to
    the resize. The collage's sides must be multiples of g."""
    grid = check_grid(grid)
    array = to_uint8_hwc(collage)
    height, width = array.shape[:2]
    if height % grid or width % grid:
        raise ValueError(f"a {grid}x{grid} collage must have sides divisible by {grid}, got {width}x{height}")
    th, tw = height // grid, width // grid
    return [array[r * th:(r + 1) * th, c * tw:(c + 1) * tw].copy() for r in range(grid) for c in range(grid)]


def to_image_order(per_position: Sequence[int] | torch.Tensor, arrangement: torch.Tensor | Sequence[int]) -> list[int]:
    """Per-position values (e.g. the labels the model gave tiles 0..n-1) reordered to the collage's image order:
    ``out[arr[p]] = per_position[p]``."""
    values = list(torch.as_tensor(per_position).tolist()) if isinstance(per_position, torch.Tensor) \
        else list(per_position)
    arr = check_arrangement(arrangement, len(values))
    out = [0] * len(values)
    for position, index in enumerate(arr.tolist()):
        out[index] = values[position]
    return out


# The prompt wording of the paper's teaser figure (collage) and of its standard single-image baseline; the sentence
# after it fixes the answer format the parser reads (the figure shows answers as "[0: 'vase', 1: 'pot pie', ...]").
COLLAGE_TEMPLATE = ("Act as an image classifier by providing predictions for each {grid}x{grid} grid collage with "
                    "assigned categories from a given list ({categories}), following left-to-right, top-to-bottom "
                    "order. Answer only with the indexed list [0: 'category', 1: 'category', ...] of {n} entries.")
STANDARD_TEMPLATE = ("Act as an image classifier by providing prediction for this image with assigned categories "
                     "from a given list ({categories}). Answer only with the category.")


def _category_list(categories: Sequence[str]) -> str:
    if not categories:
        raise ValueError("the prompt needs a non-empty category list")
    return ", ".join(f"'{name}'" for name in categories)


def collage_prompt(categories: Sequence[str], grid: int) -> str:
    """The paper's collage prompt for a g x g collage over ``categories``."""
    grid = check_grid(grid)
    return COLLAGE_TEMPLATE.format(grid=grid, categories=_category_list(categories), n=grid * grid)


def standard_prompt(categories: Sequence[str]) -> str:
    """The paper's standard prompt (one image per call) over ``categories``."""
    return STANDARD_TEMPLATE.format(categories=_category_list(categories))


@dataclass(frozen=True)
class ParsedAnswer:
    """The label index the answer gives each grid position (-1 where it gives none or a name outside the list),
    and whether each position was parsed."""

    labels: tuple[int, ...]
    parsed: tuple[bool, ...]

    @property
    def unparsed(self) -> int:
        return sum(not ok for ok in self.parsed)


def normalize_name(name: str) -> str:
    """Lower case, quotes, brackets and surrounding punctuation removed, inner whitespace and ``_`` collapsed to one
    space: what two spellings of one category share."""
    name = name.strip().strip("\"'`[](){}<>.,;:!?*").replace("_", " ")
    return re.sub(r"\s+", " ", name).strip().lower()


def _category_index(categories: Sequence[str]) -> dict[str, int]:
    index: dict[str, int] = {}
    for label, name in enumerate(categories):
        index.setdefault(normalize_name(str(name)), label)
    return index


def match_category(text: str, categories: Sequence[str]) -> int:
    """The label of ``text`` in ``categories`` (normalised exact match, else the single longest category name that
    occurs in it as whole words), -1 when none or a tie."""
    index = _category_index(categories)
    name = normalize_name(text)
    if name in index:
        return index[name]
    found = [(len(key), label) for key, label in index.items()
             if key and re.search(rf"(?<![\w]){re.escape(key)}(?![\w])", name)]
    if not found:
        return -1
    found.sort(reverse=True)
    if len(found) > 1 and found[0][0] == found[1][0]:
        return -1
    return found[0][1]


_ENTRY = re.compile(r"(?:^|[\[\{,;\n(]|\s)\s*[\"']?(\d+)[\"']?\s*[:=)\-.]\s*(\"[^\"]*\"|'[^']*'|[^,;\n\]\}\[]+)")


def _entries(text: str) -> list[tuple[int, str]]:
    """``(index, name)`` pairs found in an answer: a JSON/Python mapping or list first, else ``i: name`` items."""
    body = text.strip()
    fence = re.search(r"```(?:\w+)?\s*(.*?)```", body, re.S)
    if fence:
        body = fence.group(1).strip()
    for loader in (json.loads, ast.literal_eval):
        try:
            value = loader(body)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict):
            pairs = []
            for key, name in value.items():
                if isinstance(key, (int, str)) and str(key).strip().isdigit() and isinstance(name, str):
                    pairs.append((int(str(key).strip()), name))
            if pairs:
                return pairs
        if isinstance(value, list) and value and all(isinstance(name, str) for name in value) \
                and not any(re.match(r"\s*\d+\s*:", name) for name in value):
            return list(enumerate(value))
    return [(int(match.group(1)), match.group(2)) for match in _ENTRY.finditer(body)]


def parse_indexed_answer(text: str | None, n_tiles: int, categories: Sequence[str]) -> ParsedAnswer:
    """The label of each grid position 0..n_tiles-1 in a collage answer such as ``[0: 'vase', 1: 'pot pie']``
    (also ``0. vase`` lines, JSON ``{"0": "vase"}`` or a plain list of names). Never raises: a position with no
    entry, an entry outside the category list, or a missing / empty / garbled answer is unparsed (label -1, counted
    wrong); an index outside 0..n_tiles-1 is ignored; a repeated index keeps its first entry."""
    labels = [-1] * n_tiles
    parsed = [False] * n_tiles
    seen: set[int] = set()
    try:
        entries = _entries(text) if isinstance(text, str) and text.strip() else []
    except Exception:  # noqa: BLE001 - a malformed answer must count as unparsed, never stop a paid run
        entries = []
    for position, name in entries:
        if not 0 <= position < n_tiles or position in seen:
            continue
        seen.add(position)
        label = match_category(name, categories)
        if label >= 0:
            labels[position], parsed[position] = label, True
    return ParsedAnswer(tuple(labels), tuple(parsed))


def parse_single_answer(text: str | None, categories: Sequence[str]) -> ParsedAnswer:
    """The label of a standard (one image) answer: the category it names, -1 (unparsed) when none or ambiguous;
    an indexed answer with one entry (``[0: 'vase']``) is read too."""
    if not isinstance(text, str) or not text.strip():
        return ParsedAnswer((-1,), (False,))
    label = match_category(text, categories)
    if label < 0:
        indexed = parse_indexed_answer(text, 1, categories)
        if indexed.parsed[0]:
            return indexed
    return ParsedAnswer((label,), (label >= 0,))


def format_indexed_answer(names: Sequence[str]) -> str:
    """An answer in the format the collage prompt asks for (what the local back-ends return)."""
    return "[" + ", ".join(f"{position}: {name!r}" for position, name in enumerate(names)) + "]"
