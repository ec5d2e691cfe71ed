"""Base class for dataset readers and the error raised when data is missing or laid out wrongly."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset


class DatasetLayoutError(FileNotFoundError):
    """Data is missing or not in the official layout; the message names the path, the layout and the fix."""

    def __init__(self, dataset: str, path: str | Path, problem: str, layout: str, obtain: str) -> None:
        message = (
            f"{dataset}: {problem}\n  path: {path}\n  expected layout:\n"
            + "\n".join(f"    {line}" for line in layout.strip().splitlines())
            + f"\n  how to get it: {obtain.strip()}"
        )
        super().__init__(message)
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.args[0])


class BenchDataset(Dataset):
    """A dataset reader: items are dicts, every sample has a stable string id, and the data has a fingerprint.

    Subclasses set ``layout`` (the official on-disk layout, as a tree) and ``obtain`` (where the data comes
    from), and call :meth:`require` for each path they read, so a wrong root fails before a long job starts.
    """

    layout: str = ""
    obtain: str = ""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def sample_id(self, index: int) -> str:
        """Stable id of sample ``index``, independent of sharding (e.g. the file's relative path)."""
        raise NotImplementedError

    def fingerprint(self) -> str:
        """sha256 over the class name and every sample id; readers with files add sizes or contents."""
        digest = hashlib.sha256(type(self).__name__.encode())
        for index in range(len(self)):
            digest.update(self.sample_id(index).encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        """Facts recorded in provenance (split, root, size)."""
        return {"type": type(self).__name__, "num_samples": len(self)}

    def layout_error(self, path: str | Path, problem: str) -> DatasetLayoutError:
        """The error for ``path`` that names this reader's official layout and where to get the data."""
        return DatasetLayoutError(type(self).__name__, path, problem, self.layout, self.obtain)

    def require(self, path: str | Path, what: str = "file") -> Path:
        """``path`` if it exists, else a :class:`DatasetLayoutError` naming it, the layout and the fix."""
        path = Path(path)
        if not path.exists():
            raise self.layout_error(path, f"missing {what}")
        return path
