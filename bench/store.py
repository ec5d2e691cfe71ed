"""Per-sample output store: columnar chunks written atomically, keyed by sample id and config hash.

Each rank appends the outputs of the samples it finished to its own chunk files under ``<run>/samples/``.
A chunk holds ``sample_id`` (list of str), ``index`` and ``seed`` (int64 tensors) and the method's output
columns (tensors with the batch on dim 0, or lists). Because chunks are keyed by sample id rather than by
rank, a run resumes under any world size, and rank 0 aggregates by reading every chunk back.

Nothing computed is lost: a chunk that cannot be written keeps its samples pending (:meth:`SampleStore.rescue`
writes them elsewhere as ordinary chunks), and :meth:`SampleStore.repair` moves duplicate or unreadable chunks to
``samples/quarantine/`` instead of deleting them. ``samples/expected.json`` lists the sample ids a run selected, so
scoring needs no dataset.
"""
from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.io import atomic_torch_save, atomic_write_json, read_json

log = logging.getLogger("bench")
Columns = dict[str, Any]
META_COLUMNS = ("sample_id", "index", "seed")
ROW_KEYS = ("sample_id", "index")  # always read: they order the rows and name them
QUARANTINE = "quarantine"
EXPECTED_FILE = "expected.json"


class StoreError(RuntimeError):
    """The sample store is inconsistent (duplicates, foreign or unreadable chunks, missing samples)."""


class StoreWriteError(StoreError):
    """A chunk could not be written (no space, read-only or forbidden folder); its samples are still pending."""

    def __init__(self, message: str, error: OSError) -> None:
        super().__init__(message)
        self.error = error


def as_column(name: str, value: Any, batch: int) -> Any:
    """Normalise one output column: tensors/arrays keep dim 0 = batch (moved to CPU), lists stay lists."""
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.ndim == 0 or value.shape[0] != batch:
            raise ValueError(f"output column {name!r} has shape {tuple(value.shape)}; "
                             f"dim 0 must be the batch ({batch})")
        return value
    if isinstance(value, (list, tuple)):
        if len(value) != batch:
            raise ValueError(f"output column {name!r} has {len(value)} entries for a batch of {batch}")
        return [v.detach().cpu() if isinstance(v, torch.Tensor) else v for v in value]
    raise TypeError(f"output column {name!r} must be a tensor, array or list, not {type(value).__name__}")


def concat_columns(chunks: list[Columns]) -> Columns:
    """Concatenate chunks column by column (tensors with ``torch.cat``, lists by extension)."""
    if not chunks:
        return {}
    names = list(chunks[0])
    out: Columns = {}
    for name in names:
        parts = [chunk[name] for chunk in chunks]
        if isinstance(parts[0], torch.Tensor):
            out[name] = torch.cat(parts)
        else:
            out[name] = [item for part in parts for item in part]
    return out


def take_rows(columns: Columns, order: torch.Tensor) -> Columns:
    """Reorder every column by ``order`` (a permutation or selection of row positions)."""
    out: Columns = {}
    for name, col in columns.items():
        out[name] = col[order] if isinstance(col, torch.Tensor) else [col[i] for i in order.tolist()]
    return out


class SampleStore:
    """Chunked, atomic, resumable storage of per-sample outputs for one run directory."""

    def __init__(self, run_dir: str | Path, config_hash: str, rank: int = 0, flush_every: int = 1024,
                 flush_seconds: float = 60.0) -> None:
        self.dir = Path(run_dir) / "samples"
        self.config_hash = config_hash
        self.tag = config_hash[:16]
        self.rank = rank
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._last_flush = time.monotonic()
        self._writer_id = uuid.uuid4().hex[:8]
        self._seq = 0
        self._pending: list[Columns] = []
        self._pending_rows = 0

    # -- writing -------------------------------------------------------------------------------------
    def add(self, sample_ids: list[str], indices: torch.Tensor, seeds: torch.Tensor, outputs: Columns) -> None:
        """Queue one batch; a chunk is written once ``flush_every`` samples or ``flush_seconds`` have gone by.

        Both bound the work a kill can lose: many cheap samples, or a few slow ones (diffusion sampling).
        """
        batch = len(sample_ids)
        chunk: Columns = {"sample_id": list(sample_ids), "index": torch.as_tensor(indices, dtype=torch.int64),
                          "seed": torch.as_tensor(seeds, dtype=torch.int64)}
        for name, value in outputs.items():
            if name in META_COLUMNS:
                raise ValueError(f"output column name {name!r} is reserved by the store")
            chunk[name] = as_column(name, value, batch)
        self._pending.append(chunk)
        self._pending_rows += batch
        if self._pending_rows >= self.flush_every or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    @property
    def pending_rows(self) -> int:
        """Samples computed but not yet in a chunk file."""
        return self._pending_rows

    def flush(self) -> None:
        """Write the pending samples as one chunk; on an OS error they stay pending (:class:`StoreWriteError`)."""
        if not self._pending:
            return
        try:
            self._write_pending(self.dir)
        except OSError as error:
            raise StoreWriteError(f"could not write a chunk of {self._pending_rows} samples to {self.dir} "
                                  f"({error.strerror or error})", error) from error
        self._last_flush = time.monotonic()

    def rescue(self, folder: str | Path) -> tuple[int, Path]:
        """Write the pending samples into ``folder`` as an ordinary chunk (same name and config hash: moved into
        ``samples/`` it is read like any other); returns how many samples it holds and its path."""
        rows = self._pending_rows
        return rows, self._write_pending(Path(folder))

    def _write_pending(self, folder: Path) -> Path:
        chunk = concat_columns(self._pending)
        chunk["config_hash"] = self.config_hash
        path = folder / f"{self.tag}-r{self.rank:04d}-{self._writer_id}-{self._seq:06d}.pt"
        atomic_torch_save(path, chunk)
        self._seq += 1
        self._pending, self._pending_rows = [], 0
        return path

    def write_expected(self, sample_ids: list[str], original: int) -> Path:
        """Record the sample ids this run selected and the dataset's size (atomically), so scoring needs no
        dataset to list them; a resume that selects the same leaves the file untouched."""
        record = {"config_hash": self.config_hash, "original": original, "sample_ids": list(sample_ids)}
        try:
            same = self.expected() == {"original": original, "sample_ids": record["sample_ids"]}
        except StoreError:  # unreadable or another config's: this run's record replaces it
            same = False
        if same:
            return self.dir / EXPECTED_FILE
        return atomic_write_json(self.dir / EXPECTED_FILE, record)

    def expected(self) -> dict[str, Any] | None:
        """``{"sample_ids", "original"}`` as :meth:`write_expected` recorded them (None for a run written before
        they were recorded)."""
        path = self.dir / EXPECTED_FILE
        if not path.is_file():
            return None
        try:
            record = read_json(path)
            record = {"config_hash": record["config_hash"], "original": int(record["original"]),
                      "sample_ids": [str(s) for s in record["sample_ids"]]}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StoreError(f"{path} is unreadable ({type(error).__name__}: {error}); delete it and rerun "
                             f"`bench score {self.dir.parent}` with the dataset available (it then lists the "
                             "ids from the dataset)") from error
        if record.pop("config_hash") != self.config_hash:
            raise StoreError(f"{path}: written by another config than this run's ({self.tag}...); use another "
                             "--work-dir, or delete that folder to start afresh")
        return record

    # -- reading -------------------------------------------------------------------------------------
    def chunk_paths(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        paths = sorted(self.dir.glob("*.pt"))
        foreign = [p for p in paths if not p.name.startswith(self.tag)]
        if foreign:
            raise StoreError(
                f"{self.dir} holds {len(foreign)} chunk(s) of another config (e.g. {foreign[0].name}); this run's "
                f"config hash starts {self.tag}. Use another --work-dir, or delete that folder to start afresh."
            )
        return paths

    def _read(self, path: Path) -> Columns:
        """One chunk, memory-mapped; a truncated, corrupt or malformed file is a :class:`StoreError` naming it."""
        chunk, problem = self._load(path)
        if problem:
            raise StoreError(f"{path} is not a readable chunk ({problem}); `bench score {self.dir.parent}` or "
                             "`bench run ... --resume` moves it to samples/quarantine/ (--resume then recomputes "
                             "its samples)")
        return chunk

    def _load(self, path: Path) -> tuple[Columns, str | None]:
        """The chunk at ``path`` without its config hash, or what makes it unreadable (a chunk of another config
        is a :class:`StoreError`: that is a mix-up of folders, not damage)."""
        try:
            chunk = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            problem = _malformed(chunk)
        except Exception as error:  # torch/zip/pickle errors of a damaged file: one clear message instead
            return {}, f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
        if problem:
            return {}, problem
        if chunk.pop("config_hash", None) != self.config_hash:
            raise StoreError(f"{path}: written by another config than this run's ({self.tag}...)")
        return chunk, None

    def repair(self) -> dict[str, Any] | None:
        """Make the store readable again, losing nothing: keep the first copy of each sample (chunks in name
        order), move chunks that are unreadable or hold only duplicates to ``samples/quarantine/``, and rewrite a
        chunk holding some duplicates without them (atomically, its original kept in quarantine). Returns what
        was done (None when the store was sound); samples of a quarantined unreadable chunk are missing
        afterwards, so ``--resume`` recomputes them."""
        seen: set[str] = set()
        record: dict[str, Any] = {"duplicates_dropped": 0, "unreadable": {}, "quarantined": [], "rewritten": []}
        for path in self.chunk_paths():
            chunk, problem = self._load(path)
            if problem:
                record["unreadable"][path.name] = problem
                record["quarantined"].append(self._quarantine(path, copy=False).name)
                continue
            ids, keep = chunk["sample_id"], []
            for row, sample_id in enumerate(chunk["sample_id"]):
                if sample_id not in seen:
                    seen.add(sample_id)
                    keep.append(row)
            if len(keep) == len(ids):
                continue
            record["duplicates_dropped"] += len(ids) - len(keep)
            if not keep:
                del chunk
                record["quarantined"].append(self._quarantine(path, copy=False).name)
                continue
            kept = take_rows(chunk, torch.tensor(keep, dtype=torch.int64))  # indexing copies out of the mapping
            del chunk
            kept["config_hash"] = self.config_hash
            self._quarantine(path, copy=True)  # the original stays whole; then the chunk is replaced atomically
            atomic_torch_save(path, kept)
            record["rewritten"].append(path.name)
        if not (record["duplicates_dropped"] or record["unreadable"]):
            return None
        log.warning("repaired %s: dropped %d duplicate sample(s) and %d unreadable chunk(s) (%s); moved %d chunk(s) "
                    "and the originals of %d rewritten one(s) to %s, nothing deleted", self.dir,
                    record["duplicates_dropped"], len(record["unreadable"]), ", ".join(record["unreadable"]) or "none",
                    len(record["quarantined"]), len(record["rewritten"]), self.dir / QUARANTINE)
        return record

    def _quarantine(self, path: Path, copy: bool) -> Path:
        """Move (or copy) ``path`` into ``samples/quarantine/`` under a name no earlier repair used."""
        folder = self.dir / QUARANTINE
        folder.mkdir(exist_ok=True)
        target, n = folder / path.name, 1
        while target.exists():
            target, n = folder / f"{path.stem}.{n}{path.suffix}", n + 1
        if copy:
            shutil.copy2(path, target)
        else:
            path.replace(target)
        return target

    def finished_ids(self) -> set[str]:
        """Sample ids whose outputs are already stored (read without loading the output tensors)."""
        done: set[str] = set()
        for path in self.chunk_paths():
            done.update(self._read(path)["sample_id"])
        return done

    def stored_columns(self) -> list[str]:
        """The column names of the stored chunks, in stored order (empty when nothing is stored)."""
        paths = self.chunk_paths()
        return list(self._read(paths[0])) if paths else []

    def load(self, columns: Collection[str] | None = None) -> Columns:
        """Stored outputs, one row per sample, sorted by dataset index; duplicates are an error.

        ``columns`` (default: all) names the columns to read; ``sample_id`` and ``index`` always come along, and a
        name that is not stored is left out (the task's check names what is missing). Other columns are never
        paged in from the memory-mapped chunks.
        """
        plan = self._plan(columns)
        return plan.gather(self, 0, plan.rows) if plan.rows else {}

    def iter_chunks(self, columns: Collection[str] | None = None, rows: int | None = None) -> Iterator[Columns]:
        """Stored outputs in dataset-index order, in blocks of at most ``rows`` rows (default: the largest chunk's),
        each read from only the chunks that hold its rows: what exports use to write 50,000 images without
        holding them all."""
        plan = self._plan(columns)
        step = max(1, int(rows or plan.largest_chunk))
        for start in range(0, plan.rows, step):
            yield plan.gather(self, start, min(start + step, plan.rows))

    def _plan(self, columns: Collection[str] | None) -> _ReadPlan:
        """Read every chunk's row keys and column layout (no output data) and sort the rows by index."""
        paths = self.chunk_paths()
        indices, sample_ids, sizes = [], [], []
        layout: dict[str, Any] = {}
        for path in paths:
            chunk = self._read(path)
            indices.append(chunk["index"].clone())
            sample_ids.extend(chunk["sample_id"])
            sizes.append(len(chunk["sample_id"]))
            names = [n for n in chunk if n not in ROW_KEYS and (columns is None or n in columns)]
            if path != paths[0] and set(names) != set(layout):
                raise StoreError(f"{path} holds column(s) {sorted(names)}, {paths[0].name} holds {sorted(layout)}; "
                                 "the store mixes two output formats: delete the folder to start afresh")
            for name in names:
                value = chunk[name]
                kind, shape = layout.get(name, (None, None))
                if not isinstance(value, torch.Tensor):
                    layout[name] = (list, None)
                elif kind is None or (kind is not list and tuple(shape) == tuple(value.shape[1:])):
                    layout[name] = (value.dtype if kind is None else torch.promote_types(kind, value.dtype),
                                    tuple(value.shape[1:]))
                else:
                    raise StoreError(f"{path}: column {name!r} has rows of shape {tuple(value.shape[1:])}, other "
                                     f"chunks {shape}; the store mixes two output formats")
        index = torch.cat(indices) if indices else torch.zeros(0, dtype=torch.int64)
        order = torch.argsort(index, stable=True)
        sorted_index = index[order]
        if sorted_index.numel() > 1 and bool((sorted_index[1:] == sorted_index[:-1]).any()):
            dup = int(sorted_index[1:][sorted_index[1:] == sorted_index[:-1]][0])
            raise StoreError(f"{self.dir}: sample index {dup} is stored twice; the store is corrupt. `bench score "
                             f"{self.dir.parent}` (or `bench run ... --resume`) repairs it: it keeps one copy of each "
                             "sample and moves the rest to samples/quarantine/")
        chunk_of = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes, dtype=torch.int64))
        starts = torch.tensor([0, *sizes], dtype=torch.int64).cumsum(0)[:-1]
        row_in_chunk = torch.arange(index.numel()) - starts[chunk_of] if sizes else index
        return _ReadPlan(paths, layout, order, sorted_index, [sample_ids[i] for i in order.tolist()],
                         chunk_of[order], row_in_chunk[order], max(sizes, default=0))


def _malformed(chunk: Any) -> str | None:
    """What is wrong with a loaded chunk's layout (None if it is a chunk): the row keys the store relies on."""
    if not isinstance(chunk, dict):
        return f"a {type(chunk).__name__}, not a dict of columns"
    ids, index = chunk.get("sample_id"), chunk.get("index")
    if not isinstance(ids, list) or not isinstance(index, torch.Tensor):
        return "no sample_id list or index tensor"
    lengths = {name: len(col) for name, col in chunk.items() if name != "config_hash" and hasattr(col, "__len__")}
    if len(set(lengths.values())) > 1:
        return f"columns of different lengths {lengths}"
    return None


@dataclass
class _ReadPlan:
    """Where each row of the index-sorted table lives: its chunk and its row there, plus the column layout."""

    paths: list[Path]
    layout: dict[str, Any]  # name -> (dtype, row shape) for tensor columns, (list, None) for list columns
    order: torch.Tensor
    index: torch.Tensor
    sample_ids: list[str]
    chunk: torch.Tensor
    row: torch.Tensor
    largest_chunk: int

    @property
    def rows(self) -> int:
        return int(self.index.numel())

    def gather(self, store: SampleStore, start: int, stop: int) -> Columns:
        """Rows ``start:stop`` of the sorted table: each needed chunk is mapped, its rows copied, then unmapped."""
        n = stop - start
        out: Columns = {"sample_id": self.sample_ids[start:stop], "index": self.index[start:stop].clone()}
        for name, (dtype, shape) in self.layout.items():
            out[name] = [None] * n if dtype is list else torch.empty((n, *shape), dtype=dtype)
        chunk, row = self.chunk[start:stop], self.row[start:stop]
        for c in torch.unique(chunk).tolist():
            at = torch.nonzero(chunk == c).flatten()
            rows = row[at]
            data = store._read(self.paths[c])
            for name in self.layout:
                if isinstance(out[name], torch.Tensor):
                    out[name][at] = data[name][rows].to(out[name].dtype)
                else:
                    for position, r in zip(at.tolist(), rows.tolist(), strict=True):
                        out[name][position] = data[name][r]
            del data  # drops the mapping: the pages just read leave this process's memory
        return out  # columns in stored order, as a full load returned them (metrics may iterate them in order)


class MemoryOutputs:
    """Outputs already in memory (rows sorted by index) behind the store's reading API (``load``,
    ``iter_chunks``), so a task's exports and figures take either a run's store or a table built in a test."""

    def __init__(self, columns: Columns) -> None:
        self.columns = columns

    def load(self, columns: Collection[str] | None = None) -> Columns:
        return {name: col for name, col in self.columns.items()
                if columns is None or name in columns or name in ROW_KEYS}

    def iter_chunks(self, columns: Collection[str] | None = None, rows: int | None = None) -> Iterator[Columns]:
        table = self.load(columns)
        total = len(next(iter(table.values()))) if table else 0
        step = max(1, int(rows or total or 1))
        for start in range(0, total, step):
            yield {name: col[start:start + step] for name, col in table.items()}


def as_outputs(outputs: Columns | SampleStore | MemoryOutputs) -> SampleStore | MemoryOutputs:
    """A store or in-memory reader for ``outputs`` (a run's :class:`SampleStore`, or a column table)."""
    return outputs if isinstance(outputs, (SampleStore, MemoryOutputs)) else MemoryOutputs(outputs)
