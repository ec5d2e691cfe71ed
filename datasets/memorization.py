"""Prompt sets of the text-to-image memorization papers (Wen et al. 2024, Bright Ending, AMG): memorized prompts
with their ground-truth training images, non-memorized prompt files, random-token prompts, and the labelled
union of a memorized and a non-memorized set that the detection table scores.

Every item has the same keys, so sets can be concatenated and batched alike: ``prompt`` (str), ``label``
(1 memorized, 0 not), ``index`` (the LAION index of a memorized prompt, else the source row), ``row`` (position
in the source file or draw order: the official per-prompt seed is ``gen_seed + row``), ``prompt_set`` (the set's
name), ``url`` ("" when none), and the ragged lists ``gt_images`` (paths of the ground-truth PNGs),
``paraphrases`` (``caption1..captionN`` of the ``_withss`` file, for PRSS's semantic search) and ``token_ids``
(random-token prompts only). Sample ids are ``<prompt_set>-<index>``.

Subsets: the protocol averages detection over ≥ 5 random non-memorized subsets (Wen repo issue #1; the original
subsets are lost), so every reader takes ``subset_size`` / ``subset_seed`` and a config sweeps ``subset_seed``.
``subset_mode="random"`` draws ``subset_size`` rows with ``np.random.default_rng(subset_seed)`` (subsets of
different seeds may overlap); ``"disjoint"`` cuts block number ``subset_seed`` out of one fixed shuffle
(``default_rng(subset_shuffle_seed).permutation(n)``), so seeds 0..k-1 give k disjoint subsets. Chosen rows keep
file order and are recorded in ``describe()``.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.data import BenchDataset, DatasetLayoutError, visible
from bench.registry import DATASETS
from bench.tasks.generation.reference import IMAGE_SUFFIXES

SHOWN = 5  # names listed in an error before "and N more"
SUBSET_MODES = ("random", "disjoint")
PROMPT_FORMATS = (".jsonl", ".json", ".csv", ".parquet")
WEN_REPO = "https://github.com/YuxinWenRick/diffusion_memorization"
BE_REPO = "https://github.com/chenchen-usyd/BE-PRSS"
LEXICA_HF = "https://huggingface.co/datasets/Gustavosta/Stable-Diffusion-Prompts"
COCO_HF = "https://huggingface.co/datasets/ChristophSchuhmann/MS_COCO_2017_URL_TEXT"
PARAPHRASE_KEY = re.compile(r"caption(\d+)")
# the official draw (optim_utils.get_dataset): detect_mem.py seeds Python's `random` with gen_seed + 5
# (set_random_seed) right before drawing the 2,000 random prompts
OFFICIAL_RANDOM_SEED_OFFSET = 5
CLIP_VOCAB_SIZE, CLIP_MAX_LENGTH = 49408, 77  # SD 1.x CLIPTokenizer: vocab_size, model_max_length


def _shown(names: Sequence[Any]) -> str:
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(str(name) for name in names[:SHOWN]) + more


def choose_rows(num_rows: int, subset_size: int | None, subset_seed: int, subset_mode: str,
                subset_shuffle_seed: int = 0) -> list[int]:
    """The source rows a subset keeps, in file order (all rows when ``subset_size`` is None); ValueError when the
    subset does not fit."""
    if subset_mode not in SUBSET_MODES:
        raise ValueError(f"subset_mode must be one of {SUBSET_MODES}, got {subset_mode!r}")
    if subset_size is None:
        return list(range(num_rows))
    if subset_size <= 0 or subset_seed < 0:
        raise ValueError(f"subset_size must be positive and subset_seed >= 0, got {subset_size} and {subset_seed}")
    if subset_mode == "random":
        if subset_size > num_rows:
            raise ValueError(f"subset_size {subset_size} exceeds the {num_rows} prompts of the set; lower it")
        chosen = np.random.default_rng(subset_seed).choice(num_rows, size=subset_size, replace=False)
    else:
        fits = num_rows // subset_size
        if subset_seed >= fits:
            raise ValueError(f"subset_mode='disjoint': {num_rows} prompts hold {fits} disjoint subsets of "
                             f"{subset_size} (subset_seed 0..{fits - 1}), got subset_seed {subset_seed}")
        order = np.random.default_rng(subset_shuffle_seed).permutation(num_rows)
        chosen = order[subset_seed * subset_size:(subset_seed + 1) * subset_size]
    return sorted(int(row) for row in chosen)


class PromptSet(BenchDataset):
    """A list of prompt records (one per source row) and the subset of them this reader serves."""

    label: int = 0
    KEYS = ("prompt", "label", "index", "row", "prompt_set", "url", "gt_images", "paraphrases", "token_ids")

    def __init__(self, name: str, subset_size: int | None, subset_seed: int, subset_mode: str,
                 subset_shuffle_seed: int) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.]+", str(name)):
            raise ValueError(f"{type(self).__name__}: name {name!r} must be letters, digits, '_' or '.' (it "
                             "prefixes every sample id, '<name>-<index>')")
        self.name = str(name)
        self.subset_size, self.subset_seed, self.subset_mode = subset_size, int(subset_seed), subset_mode
        self.subset_shuffle_seed = int(subset_shuffle_seed)
        self.source_size = 0
        self.rows: list[int] = []
        self.items: list[dict[str, Any]] = []

    def _json_lines(self, path: Path, text: str, expected: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, object) of each non-blank line of a JSON-lines file; a line that is not a JSON object
        (``expected`` says what it should hold) is an error naming the file and the line."""
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as error:
                raise self.layout_error(path, f"line {number} is not valid JSON ({error.msg} at column "
                                              f"{error.colno}): {line[:80]!r}") from error
            if not isinstance(obj, dict):
                raise self.layout_error(path, f"line {number} is a JSON {type(obj).__name__}, not {expected}")
            yield number, obj

    def _select(self, records: list[dict[str, Any]]) -> None:
        """Keep the subset's records and complete each to the shared item keys."""
        self.source_size = len(records)
        self.rows = choose_rows(len(records), self.subset_size, self.subset_seed, self.subset_mode,
                                self.subset_shuffle_seed)
        defaults = {"label": self.label, "prompt_set": self.name, "url": "", "gt_images": [], "paraphrases": [],
                    "token_ids": []}
        self.items = [{**defaults, **records[row], "row": row} for row in self.rows]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.items[index]
        return {**item, **{key: list(item[key]) for key in ("gt_images", "paraphrases", "token_ids")}}

    def sample_id(self, index: int) -> str:
        return f"{self.name}-{self.items[index]['index']}"

    def _subset_digest(self, digest: Any) -> None:
        digest.update(f"{type(self).__name__}\0{self.name}\0{self.rows}\0".encode())

    def describe(self) -> dict[str, Any]:
        subset = None if self.subset_size is None else {
            "size": self.subset_size, "seed": self.subset_seed, "mode": self.subset_mode, "rows": list(self.rows),
            **({"shuffle_seed": self.subset_shuffle_seed} if self.subset_mode == "disjoint" else {})}
        return {**super().describe(), "prompt_set": self.name, "label": self.label, "source_size": self.source_size,
                "subset": subset}


@DATASETS.register_module()
class MemorizedPrompts(PromptSet):
    """Memorized prompts (label 1) from Wen's ``sdv1_500_memorized.jsonl`` or BE-PRSS's ground-truth files.

    ``prompts_file`` is a JSON-lines file, one object per line with ``caption`` (str), ``index`` (int, the LAION
    index; must be unique) and ``url``; the ``_withss`` variant adds ``caption1..caption25``, exposed as
    ``paraphrases`` in numeric order. Ground-truth images are ``<gt_dir>/<index>/*.png`` (sorted; hidden files
    ignored); ``gt_dir`` defaults to ``gt_images`` beside the file, when that folder exists (the official code
    globs ``{dataset}/gt_images/{index}/*.png``). A prompt without GT images is an error only with
    ``require_gt_images=True`` (mitigation's SSCD needs them; detection does not).
    """

    label = 1
    layout = """
detection (Wen; BE README):  sdv1_500_memorized.jsonl
  one JSON object per line: {"caption": "...", "index": 1030727993, "url": "https://..."}  (500 lines)
ground truth (BE-PRSS):      sdv1_500_mem_groundtruth/
  sdv1_500_mem_groundtruth.jsonl                   (same keys; Wen's optim_utils.get_dataset_finetune)
  sdv1_500_mem_groundtruth_repeated.jsonl          (same keys; BE-PRSS optim_utils.get_dataset)
  sdv1_500_mem_groundtruth_repeated_withss.jsonl   (+ "caption1" ... "caption25" paraphrases)
  gt_images/<index>/*.png                          (one or more training images per prompt)
"""
    obtain = (f"sdv1_500_memorized.jsonl: {WEN_REPO} (examples/); the ground-truth jsonl: {BE_REPO} "
              "(sdv1_500_mem_groundtruth/, ships 4 example lines of the _withss file); gt_images are not "
              "published: download each prompt's training image from its url (many are dead) into "
              "gt_images/<index>/")

    def __init__(self, prompts_file: str | Path, gt_dir: str | Path | None = None, require_gt_images: bool = False,
                 name: str = "memorized", subset_size: int | None = None, subset_seed: int = 0,
                 subset_mode: str = "random", subset_shuffle_seed: int = 0) -> None:
        super().__init__(name, subset_size, subset_seed, subset_mode, subset_shuffle_seed)
        self.prompts_file = self.require(prompts_file, "memorized prompts file (JSON lines)")
        with self.reading(self.prompts_file, "a UTF-8 JSON-lines file"):
            self.content = self.prompts_file.read_bytes()
            text = self.content.decode("utf-8")
        records = self._parse(text)
        self.require_gt_images = bool(require_gt_images)
        default_gt = self.prompts_file.parent / "gt_images"
        self.gt_dir = Path(gt_dir) if gt_dir is not None else (default_gt if default_gt.is_dir() else None)
        if self.gt_dir is not None:
            self.require(self.gt_dir, "ground-truth image folder gt_images/")
        self._select(records)
        self._attach_gt_images()

    def _parse(self, text: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        first_line: dict[int, int] = {}
        for number, obj in self._json_lines(self.prompts_file, text, "an object with caption, index and url"):
            where = f"line {number}"
            missing = [key for key in ("caption", "index") if key not in obj]
            if missing:
                raise self.layout_error(self.prompts_file, f"{where} lacks {', '.join(missing)} (keys found: "
                                                           f"{_shown(sorted(obj))})")
            if not isinstance(obj["caption"], str):
                raise self.layout_error(self.prompts_file, f"{where}: caption must be a string, got "
                                                           f"{obj['caption']!r}")
            if isinstance(obj["index"], bool) or not isinstance(obj["index"], int):
                raise self.layout_error(self.prompts_file, f"{where}: index must be an integer (the LAION index), "
                                                           f"got {obj['index']!r}")
            index = obj["index"]
            if index in first_line:
                raise self.layout_error(self.prompts_file, f"{where} repeats index {index} of line "
                                                           f"{first_line[index]}: each memorized prompt has one "
                                                           "LAION index and one gt_images/<index>/ folder")
            first_line[index] = number
            numbered = sorted((int(m.group(1)), key) for key in obj if (m := PARAPHRASE_KEY.fullmatch(key)))
            records.append({"prompt": obj["caption"], "index": index, "url": str(obj.get("url") or ""),
                            "paraphrases": [str(obj[key]) for _, key in numbered]})
        if not records:
            raise self.layout_error(self.prompts_file, "no prompts in the file")
        return records

    def _attach_gt_images(self) -> None:
        missing: list[str] = []
        where = self.gt_dir if self.gt_dir is not None else self.prompts_file.parent / "gt_images"
        for item in self.items:
            folder = where / str(item["index"])
            files = visible(sorted(folder.iterdir())) if self.gt_dir is not None and folder.is_dir() else []
            item["gt_images"] = [str(f) for f in files if f.suffix.lower() == ".png" and f.is_file()]
            if not item["gt_images"]:
                missing.append(str(folder))
        self.num_without_gt = len(missing)
        if self.require_gt_images and missing:
            raise self.layout_error(where, f"{len(missing)} of {len(self.items)} prompts have no ground-truth PNG "
                                           f"(require_gt_images=True): {_shown(missing)}")

    def fingerprint(self) -> str:
        """sha256 over the file's bytes, the subset's rows and each GT image's relative path and size."""
        digest = hashlib.sha256(self.content)
        self._subset_digest(digest)
        for item in self.items:
            for path in item["gt_images"]:
                relative = Path(path).relative_to(self.gt_dir) if self.gt_dir is not None else Path(path)
                digest.update(f"{relative.as_posix()}\0{Path(path).stat().st_size}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "prompts_file": str(self.prompts_file),
                "gt_dir": str(self.gt_dir) if self.gt_dir is not None else None,
                "prompts_without_gt_images": self.num_without_gt,
                "paraphrases": max((len(item["paraphrases"]) for item in self.items), default=0)}

    @classmethod
    def write_example(cls, root: str | Path, variant: str = "memorized", num_prompts: int = 3,
                      gt_per_prompt: Sequence[int] = (1, 2, 0), num_paraphrases: int = 25, size: int = 16,
                      seed: int = 0) -> Path:
        """A tiny set in the official layout; returns the JSON-lines file.

        ``variant``: "memorized" writes ``root/sdv1_500_memorized.jsonl`` (Wen's examples file); "repeated" and
        "withss" write ``root/sdv1_500_mem_groundtruth/sdv1_500_mem_groundtruth_repeated[_withss].jsonl`` and
        ``gt_images/<index>/<k>.png`` with ``gt_per_prompt[i]`` random images for prompt ``i`` (0: no folder).
        """
        from PIL import Image

        if variant not in ("memorized", "repeated", "withss"):
            raise ValueError(f"variant must be 'memorized', 'repeated' or 'withss', got {variant!r}")
        root, rng = Path(root), np.random.default_rng(seed)
        indices = [1000003 + 7919 * i for i in range(num_prompts)]
        lines = []
        for i, index in enumerate(indices):
            record: dict[str, Any] = {"caption": f"Example memorized caption {i} - poster", "index": index,
                                      "url": f"https://example.com/images/{index}.jpg"}
            if variant == "withss":
                record.update({f"caption{k}": f"Paraphrase {k} of example caption {i}."
                               for k in range(1, num_paraphrases + 1)})
            lines.append(json.dumps(record))
        if variant == "memorized":
            root.mkdir(parents=True, exist_ok=True)
            path = root / "sdv1_500_memorized.jsonl"
        else:
            folder = root / "sdv1_500_mem_groundtruth"
            suffix = "_withss" if variant == "withss" else ""
            path = folder / f"sdv1_500_mem_groundtruth_repeated{suffix}.jsonl"
            for i, index in enumerate(indices):
                count = gt_per_prompt[i] if i < len(gt_per_prompt) else 1
                if count:
                    (folder / "gt_images" / str(index)).mkdir(parents=True, exist_ok=True)
                for k in range(count):
                    pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
                    Image.fromarray(pixels).save(folder / "gt_images" / str(index) / f"{k}.png")
            folder.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


@DATASETS.register_module()
class NonMemorizedPrompts(PromptSet):
    """Non-memorized prompts (label 0) from a local export of a Hugging Face prompt dataset.

    ``prompts_file``: JSON lines (``.jsonl``/``.json``, what ``Dataset.to_json`` writes), CSV with a header
    (``Dataset.to_csv``) or Parquet (the hub's own files; read with pandas/pyarrow); ``key`` is the prompt column:
    ``Prompt`` for Lexica (``Gustavosta/Stable-Diffusion-Prompts``, test split), ``TEXT`` for COCO
    (``ChristophSchuhmann/MS_COCO_2017_URL_TEXT``, train split). ``index`` is the row (0-based); a row whose
    prompt is missing or not a string is an error naming its line (row for Parquet).
    """

    layout = """
<prompts_file>.jsonl   one JSON object per line with the prompt column, e.g. {"Prompt": "..."} (Lexica)
                       or {"URL": "http://...", "TEXT": "..."} (COCO)
<prompts_file>.csv     header row naming the columns, one prompt per row
<prompts_file>.parquet the hub's Parquet file (columns as above)
"""
    obtain = (f"Lexica: {LEXICA_HF} (test split, key Prompt); COCO: {COCO_HF} (train split, key TEXT); export once "
              "where the hub is reachable, e.g. datasets.load_dataset('Gustavosta/Stable-Diffusion-Prompts')"
              "['test'].to_json('lexica_test.jsonl') (the official code loads them with datasets.load_dataset)")

    def __init__(self, prompts_file: str | Path, key: str = "Prompt", name: str = "nonmemorized",
                 subset_size: int | None = None, subset_seed: int = 0, subset_mode: str = "random",
                 subset_shuffle_seed: int = 0) -> None:
        super().__init__(name, subset_size, subset_seed, subset_mode, subset_shuffle_seed)
        self.prompts_file, self.key = Path(prompts_file), str(key)
        suffix = self.prompts_file.suffix.lower()
        if suffix not in PROMPT_FORMATS:
            raise self.layout_error(self.prompts_file, f"unknown prompt file type {suffix!r}; expected one of "
                                                       f"{', '.join(PROMPT_FORMATS)}")
        self.require(self.prompts_file, "non-memorized prompts file")
        self.content_hash = hashlib.sha256(self.prompts_file.read_bytes()).hexdigest()
        reader = {".csv": self._read_csv, ".parquet": self._read_parquet}.get(suffix, self._read_jsonl)
        prompts = reader()
        if not prompts:
            raise self.layout_error(self.prompts_file, "no prompts in the file")
        self._select([{"prompt": prompt, "index": row} for row, prompt in enumerate(prompts)])

    def _check(self, value: Any, where: str, columns: Sequence[str]) -> str:
        if self.key not in columns:
            raise self.layout_error(self.prompts_file, f"{where} has no column {self.key!r} (columns: "
                                                       f"{_shown(list(columns))}); set key to the prompt column "
                                                       "(Lexica: Prompt, COCO: TEXT)")
        if not isinstance(value, str):
            raise self.layout_error(self.prompts_file, f"{where}: {self.key} must be a string, got {value!r}")
        return value

    def _read_jsonl(self) -> list[str]:
        with self.reading(self.prompts_file, "a UTF-8 JSON-lines file"):
            text = self.prompts_file.read_text(encoding="utf-8")
        prompts = []
        for number, obj in self._json_lines(self.prompts_file, text, "an object"):
            prompts.append(self._check(obj.get(self.key), f"line {number}", list(obj)))
        return prompts

    def _read_csv(self) -> list[str]:
        prompts = []
        with self.reading(self.prompts_file, "a UTF-8 CSV file with a header row"):
            with self.prompts_file.open(encoding="utf-8", newline="") as handle:
                rows = csv.DictReader(handle)
                for row in rows:
                    if None in row:  # more cells than header names
                        raise self.layout_error(self.prompts_file, f"line {rows.line_num} has more cells than the "
                                                                   "header")
                    prompts.append(self._check(row.get(self.key), f"line {rows.line_num}", rows.fieldnames or []))
                if rows.fieldnames is not None and self.key not in rows.fieldnames:
                    self._check(None, "the header", rows.fieldnames)
        return prompts

    def _read_parquet(self) -> list[str]:
        try:
            import pandas as pd
        except ImportError as error:  # pragma: no cover - pandas and pyarrow are in the requirements here
            raise self.layout_error(self.prompts_file, "reading Parquet needs pandas and pyarrow; export the "
                                                       "prompts as JSON lines or CSV instead") from error
        with self.reading(self.prompts_file, "a Parquet file"):
            frame = pd.read_parquet(self.prompts_file)
        columns = [str(column) for column in frame.columns]
        if self.key not in columns:
            self._check(None, "the file", columns)
        return [self._check(value, f"row {row}", columns) for row, value in enumerate(frame[self.key].tolist())]

    def fingerprint(self) -> str:
        """sha256 over the file's bytes, the prompt column and the subset's rows."""
        digest = hashlib.sha256(f"{self.content_hash}\0{self.key}\0".encode())
        self._subset_digest(digest)
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "prompts_file": str(self.prompts_file), "key": self.key,
                "file_sha256": self.content_hash}

    @classmethod
    def write_example(cls, root: str | Path, source: str = "lexica", file_format: str = "jsonl",
                      num_prompts: int = 12) -> Path:
        """A tiny prompt file as an export of ``source`` ("lexica": column Prompt; "coco": URL and TEXT) in
        ``file_format`` ("jsonl", "csv" or "parquet"); returns its path (``root/<source>.<file_format>``)."""
        if source not in ("lexica", "coco"):
            raise ValueError(f"source must be 'lexica' or 'coco', got {source!r}")
        if source == "lexica":
            rows = [{"Prompt": f"a portrait of a knight number {i}, digital art, trending on artstation"}
                    for i in range(num_prompts)]
        else:
            rows = [{"URL": f"http://images.cocodataset.org/train2017/{i:012d}.jpg",
                     "TEXT": f"A person riding bicycle number {i} down a city street."} for i in range(num_prompts)]
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        path = root / f"{source}.{file_format}"
        if file_format == "jsonl":
            path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        elif file_format == "csv":
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        elif file_format == "parquet":
            import pandas as pd

            pd.DataFrame(rows).to_parquet(path, index=False)
        else:
            raise ValueError(f"file_format must be 'jsonl', 'csv' or 'parquet', got {file_format!r}")
        return path


@DATASETS.register_module()
class RandomTokenPrompts(PromptSet):
    """Random-token prompts (label 0), drawn as the official ``get_dataset("random")`` draws them.

    Official draw: after ``random.seed(gen_seed + 5)``, per prompt ``k = random.randrange(model_max_length)`` then
    ``random.sample(range(vocab_size), k)`` distinct ids (k in 0..76, so the empty prompt can occur), decoded
    with the pipeline's tokenizer. This reader repeats that with its own ``random.Random(seed + 5)``, so with SD
    1.x's tokenizer folder and ``seed`` = the official ``--gen_seed`` it yields the official 2,000 prompts.

    ``tokenizer``: a local CLIPTokenizer folder (``vocab.json``, ``merges.txt``, ``tokenizer_config.json``), or
    a Stable Diffusion folder holding ``tokenizer/``; ``vocab_size`` and ``max_length`` then default to the
    tokenizer's. Without one no text can be decoded offline, so the ids are drawn with SD 1.x's sizes (49408, 77)
    and ``prompt`` is the deterministic stand-in ``"tok<id> tok<id> ..."``: it fixes which prompt is which, but a
    text encoder would read other tokens than the paper's, so pass a tokenizer for real runs (``token_ids``
    always holds the ids).
    """

    layout = """
<tokenizer>/vocab.json, merges.txt, tokenizer_config.json (model_max_length)   (a CLIPTokenizer folder)
or <stable diffusion folder>/tokenizer/...       (diffusers layout)
"""
    obtain = ("the tokenizer/ folder of a local Stable Diffusion v1.x download (CompVis/stable-diffusion-v1-4); "
              f"the draw follows optim_utils.get_dataset of {WEN_REPO}")

    def __init__(self, num_prompts: int = 2000, seed: int = 0, tokenizer: str | Path | None = None,
                 vocab_size: int | None = None, max_length: int | None = None, name: str = "random",
                 subset_size: int | None = None, subset_seed: int = 0, subset_mode: str = "random",
                 subset_shuffle_seed: int = 0) -> None:
        super().__init__(name, subset_size, subset_seed, subset_mode, subset_shuffle_seed)
        if num_prompts <= 0:
            raise ValueError(f"RandomTokenPrompts: num_prompts must be positive, got {num_prompts}")
        self.num_prompts, self.seed = int(num_prompts), int(seed)
        self.tokenizer_dir: Path | None = None
        decoder = None
        if tokenizer is not None:
            decoder = self._load_tokenizer(Path(tokenizer))
        self.vocab_size = int(vocab_size if vocab_size is not None else
                              decoder.vocab_size if decoder is not None else CLIP_VOCAB_SIZE)
        self.max_length = int(max_length if max_length is not None else
                              decoder.model_max_length if decoder is not None else CLIP_MAX_LENGTH)
        if self.vocab_size <= 0 or not 0 < self.max_length <= self.vocab_size:
            raise ValueError(f"RandomTokenPrompts: need 0 < max_length <= vocab_size, got max_length "
                             f"{self.max_length} and vocab_size {self.vocab_size} (a tokenizer folder without "
                             "tokenizer_config.json has no model_max_length: pass max_length, 77 for SD 1.x)")
        draw = random.Random(self.seed + OFFICIAL_RANDOM_SEED_OFFSET)
        records = []
        for row in range(self.num_prompts):
            length = draw.randrange(self.max_length)
            ids = draw.sample(range(self.vocab_size), length)
            # transformers 4.30 (the official pin) cleaned up tokenization spaces by default; newer ones do not
            text = (decoder.decode(ids, clean_up_tokenization_spaces=True) if decoder is not None
                    else " ".join(f"tok{token}" for token in ids))
            records.append({"prompt": text, "index": row, "token_ids": ids})
        self._select(records)

    def _load_tokenizer(self, folder: Path) -> Any:
        self.require(folder, "tokenizer folder")
        if (folder / "tokenizer").is_dir():
            folder = folder / "tokenizer"
        self.tokenizer_dir = folder
        from transformers import CLIPTokenizer

        with self.reading(folder, "a CLIPTokenizer folder"):
            return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)

    def fingerprint(self) -> str:
        """sha256 over every served prompt's ids and text (the text depends on the tokenizer's files)."""
        digest = hashlib.sha256()
        self._subset_digest(digest)
        for item in self.items:
            digest.update(f"{item['token_ids']}\0{item['prompt']}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "num_prompts": self.num_prompts, "seed": self.seed,
                "vocab_size": self.vocab_size, "max_length": self.max_length,
                "tokenizer": str(self.tokenizer_dir) if self.tokenizer_dir is not None else None,
                "prompt_form": "decoded" if self.tokenizer_dir is not None else "tok<id> stand-in (not decoded)",
                "draw": f"random.Random(seed + {OFFICIAL_RANDOM_SEED_OFFSET}): randrange(max_length) ids from "
                        "sample(range(vocab_size), k), as optim_utils.get_dataset('random')"}


@DATASETS.register_module()
class DetectionPrompts(BenchDataset):
    """The detection table's labelled set: a memorized set (label 1) followed by a non-memorized one (label 0).

    ``memorized`` and ``nonmemorized`` are reader configs (``dict(type="MemorizedPrompts", ...)``) built through
    ``DATASETS``; items and ids are theirs, unchanged (ids stay unique because the set names differ).
    """

    layout = "two prompt sets, see MemorizedPrompts and NonMemorizedPrompts / RandomTokenPrompts"
    obtain = MemorizedPrompts.obtain

    def __init__(self, memorized: dict[str, Any], nonmemorized: dict[str, Any]) -> None:
        self.parts: list[PromptSet] = []
        for role, spec, label in (("memorized", memorized, 1), ("nonmemorized", nonmemorized, 0)):
            part = DATASETS.build(spec)
            if not isinstance(part, PromptSet) or part.label != label:
                raise ValueError(f"DetectionPrompts: {role} must be a prompt set with label {label} (e.g. "
                                 f"{'MemorizedPrompts' if label else 'NonMemorizedPrompts or RandomTokenPrompts'}"
                                 f"), got {type(part).__name__}")
            self.parts.append(part)
        self.memorized, self.nonmemorized = self.parts
        if self.memorized.name == self.nonmemorized.name:
            raise ValueError(f"DetectionPrompts: both sets are named {self.memorized.name!r}; give them different "
                             "names so sample ids stay unique")
        self.offsets = [0, len(self.memorized)]

    def _locate(self, index: int) -> tuple[PromptSet, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"DetectionPrompts index {index} out of range 0..{len(self) - 1}")
        return (self.memorized, index) if index < self.offsets[1] else (self.nonmemorized, index - self.offsets[1])

    def __len__(self) -> int:
        return len(self.memorized) + len(self.nonmemorized)

    def __getitem__(self, index: int) -> dict[str, Any]:
        part, local = self._locate(index)
        return part[local]

    def sample_id(self, index: int) -> str:
        part, local = self._locate(index)
        return part.sample_id(local)

    def fingerprint(self) -> str:
        return hashlib.sha256(f"{type(self).__name__}\0{self.memorized.fingerprint()}\0"
                              f"{self.nonmemorized.fingerprint()}".encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "num_memorized": len(self.memorized),
                "num_nonmemorized": len(self.nonmemorized), "memorized": self.memorized.describe(),
                "nonmemorized": self.nonmemorized.describe()}

# ------------------------------------------------------------------------------------ captioned image folders

CAPTIONED_FOLDER_LAYOUT = """
<folder>/00000/000000000.jpg + 000000000.txt   (img2dataset output_format="files": shard folders, one caption
<folder>/00000/000000001.jpg + 000000001.txt    .txt per image; .json/.parquet files beside them are ignored)
...
or a flat folder: <folder>/<name>.jpg|.png (+ optional <name>.txt caption)
"""
CAPTIONED_FOLDER_OBTAIN = ("download a captioned image set with img2dataset (`img2dataset --url_list urls.parquet "
          "--input_format parquet --url_col url --caption_col caption --output_format files --output_folder "
          "<folder>`), e.g. the training images of the memorized prompts or a LAION subset, or put images with "
          ".txt captions in one folder")


def captioned_image_files(folder: str | Path, what: str = "CaptionedImageFolder"
                          ) -> list[tuple[str, Path, str | None]]:
    """(relative path, path, caption or None) of every image under ``folder`` (top level or shard folders), sorted
    by relative path; the caption is the stripped text of the ``.txt`` file beside the image (an empty one counts as
    none). A missing or empty folder raises :class:`DatasetLayoutError` naming the layout."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(what, root,
                                 "the folder does not exist" if not root.exists() else "not a folder",
                                 CAPTIONED_FOLDER_LAYOUT, CAPTIONED_FOLDER_OBTAIN)
    found = [p for p in visible(root.rglob("*"), root) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    if not found:
        raise DatasetLayoutError(what, root, f"no images ({'/'.join(IMAGE_SUFFIXES)}) in the "
                                 "folder or its shard folders", CAPTIONED_FOLDER_LAYOUT, CAPTIONED_FOLDER_OBTAIN)
    entries = []
    for path in sorted(found, key=lambda p: p.relative_to(root).as_posix()):
        sidecar = path.with_suffix(".txt")
        caption = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else ""
        entries.append((path.relative_to(root).as_posix(), path, caption or None))
    return entries


def load_rgb(path: Path) -> torch.Tensor:
    """uint8 [H, W, 3] of an image file (any mode converted to RGB)."""
    from PIL import Image

    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.uint8).copy())


@DATASETS.register_module()
class CaptionedImageFolder(BenchDataset):
    """Images with optional captions from a local folder (:data:`CAPTIONED_FOLDER_LAYOUT`: img2dataset's "files"
    output or a flat folder): AMG's local reference set, read the same way by its guidance index and by the
    memorization task's ``train_reference``. Items: ``image`` uint8 [H, W, 3], ``caption`` ("" when none), ``key``
    (the path relative to the folder, also the sample id)."""

    layout = CAPTIONED_FOLDER_LAYOUT
    obtain = CAPTIONED_FOLDER_OBTAIN

    def __init__(self, root: str) -> None:
        self.root = Path(root).expanduser()
        self.entries = captioned_image_files(self.root, type(self).__name__)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict[str, Any]:
        key, path, caption = self.entries[index]
        return {"image": load_rgb(path), "caption": caption or "", "key": key}

    def sample_id(self, index: int) -> str:
        return self.entries[index][0]

    def fingerprint(self) -> str:
        """sha256 over the relative paths, the files' bytes and the captions."""
        from bench.io import sha256_file

        digest = hashlib.sha256(type(self).__name__.encode())
        for key, path, caption in self.entries:
            digest.update(f"{key}\0{sha256_file(path)}\0{caption or ''}\0".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "root": str(self.root), "images": len(self),
                "captioned": sum(caption is not None for _, _, caption in self.entries)}
