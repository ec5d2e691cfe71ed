"""Per-sample output store: columnar chunks written atomically, keyed by sample id and config hash.

Each rank appends the outputs of the samples it finished to its own chunk files under ``<run>/samples/``.
A chunk holds ``sample_id`` (list of str), ``index`` and ``seed`` (int64 tensors) and the method's output
columns (tensors with the batch on dim 0, or lists). Because chunks are keyed by sample id rather than by
rank, a run resumes under any world size, and rank 0 aggregates by reading every chunk back.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.io import atomic_torch_save

Columns = dict[str, Any]
META_COLUMNS = ("sample_id", "index", "seed")


class StoreError(RuntimeError):
    """The sample store is inconsistent (duplicates, foreign chunks, missing samples)."""


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

    def flush(self) -> None:
        if not self._pending:
            return
        chunk = concat_columns(self._pending)
        chunk["config_hash"] = self.config_hash
        name = f"{self.tag}-r{self.rank:04d}-{self._writer_id}-{self._seq:06d}.pt"
        atomic_torch_save(self.dir / name, chunk)
        self._seq += 1
        self._pending, self._pending_rows = [], 0
        self._last_flush = time.monotonic()

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
        chunk = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        if chunk.pop("config_hash", None) != self.config_hash:
            raise StoreError(f"{path}: written by another config than this run's ({self.tag}...)")
        return chunk

    def finished_ids(self) -> set[str]:
        """Sample ids whose outputs are already stored (read without loading the output tensors)."""
        done: set[str] = set()
        for path in self.chunk_paths():
            done.update(self._read(path)["sample_id"])
        return done

    def load(self) -> Columns:
        """All stored outputs, one row per sample, sorted by dataset index; duplicates are an error."""
        chunks = [self._read(p) for p in self.chunk_paths()]
        columns = concat_columns(chunks)
        if not columns:
            return {}
        index = columns["index"]
        order = torch.argsort(index, stable=True)
        columns = take_rows(columns, order)
        sorted_index = columns["index"]
        if sorted_index.numel() > 1 and bool((sorted_index[1:] == sorted_index[:-1]).any()):
            dup = int(sorted_index[1:][sorted_index[1:] == sorted_index[:-1]][0])
            raise StoreError(f"{self.dir}: sample index {dup} is stored twice; the store is corrupt")
        return columns
