"""Base class for dataset readers and the error raised when data is missing or laid out wrongly."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from bench.safe_pickle import UnsafePickleError


class DatasetLayoutError(FileNotFoundError):
    """Data is missing or not in the official layout; the message names the path, the layout and the fix.

    Built from a single message it keeps that message: how pickling rebuilds it, and how a DataLoader worker's
    exception is re-raised in the main process (torch passes ``"Caught ... Original Traceback ..."``). The worker's
    traceback is cut there, so the CLI prints the reader's message, not a traceback.
    """

    def __init__(self, dataset: str, path: str | Path | None = None, problem: str | None = None, layout: str = "",
                 obtain: str = "") -> None:
        if path is None and problem is None:
            message = without_worker_traceback(dataset, DatasetLayoutError.__name__)
            self.path: Path | None = None
        else:
            message = (
                f"{dataset}: {problem}\n  path: {path}\n  expected layout:\n"
                + "\n".join(f"    {line}" for line in layout.strip().splitlines())
                + f"\n  how to get it: {obtain.strip()}"
            )
            self.path = Path(path) if path is not None else None
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


def without_worker_traceback(message: str, class_name: str) -> str:
    """The original error message inside torch's ``ExceptionWrapper`` text (``"Caught X in DataLoader worker
    process N. Original Traceback ... X: <message>"``), followed by where it was raised; other text unchanged."""
    raised = re.compile(rf"\n(?:[\w.]+\.)?{re.escape(class_name)}: ")  # the traceback's last line, module-qualified
    parts = raised.split(message)
    if not message.startswith("Caught ") or "Original Traceback" not in message or len(parts) < 2:
        return message
    where = message.split("\n", 1)[0].removeprefix(f"Caught {class_name} ").rstrip(".")
    return f"{parts[-1].rstrip()}\n  (raised {where})"


def is_hidden(path: str | Path) -> bool:
    """Whether a directory entry is hidden (its name starts with '.'): ``.DS_Store``, AppleDouble ``._x.png``
    files and ``.ipynb_checkpoints`` folders are never data and are ignored by every reader."""
    return Path(path).name.startswith(".")


def visible(paths: Iterable[Path], root: Path | None = None) -> list[Path]:
    """``paths`` without hidden entries; with ``root``, also without those under a hidden folder below ``root``."""
    return [p for p in paths if not any(is_hidden(part) for part in (p.relative_to(root).parts if root else (p,)))]


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

    def layout_error(self, path: str | Path, problem: str, obtain: str | None = None) -> DatasetLayoutError:
        """The error for ``path`` that names this reader's official layout and where to get the data (``obtain``
        replaces the reader's own advice when the fix is something else, e.g. finishing an upstream run)."""
        return DatasetLayoutError(type(self).__name__, path, problem, self.layout,
                                  self.obtain if obtain is None else obtain)

    @contextmanager
    def reading(self, path: str | Path, expected: str) -> Iterator[None]:
        """Turn a failure to read ``path`` (corrupt or truncated image, array, pickle, JSON, text) into a
        :class:`DatasetLayoutError` naming the file and ``expected``; the same class is re-raised from a
        DataLoader worker, so the message reaches the CLI."""
        try:
            yield
        except DatasetLayoutError:
            raise
        except UnsafePickleError as error:
            raise self.layout_error(path, str(error)) from error
        except (OSError, ValueError, EOFError, SyntaxError) as error:
            # PIL raises UnidentifiedImageError (OSError) or SyntaxError for broken files; numpy, json and text
            # decoding raise ValueError subclasses (JSONDecodeError, UnicodeDecodeError)
            raise self.layout_error(path, f"cannot read {expected} ({type(error).__name__}: {error}); the file is "
                                          "corrupt, truncated or not in the official format: replace it with the "
                                          "official file") from error

    def require(self, path: str | Path, what: str = "file") -> Path:
        """``path`` if it exists, else a :class:`DatasetLayoutError` naming it, the layout and the fix."""
        path = Path(path)
        if not path.exists():
            raise self.layout_error(path, f"missing {what}")
        return path
