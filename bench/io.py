"""Atomic file writes and content hashes: nothing already computed is left half-written."""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import shutil
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    with atomic_writer(path) as handle:
        handle.write(data)
    return path


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file handle whose content appears at ``path`` only once the block ends without error: for
    outputs written piece by piece (an npz of 50,000 images) that must not be held in memory whole.

    The file gets the mode a plain ``open(path, "wb")`` would give it (an existing file's mode, else
    ``0o666 & ~umask``), not ``mkstemp``'s private 0600: results are shared on a cluster's file system."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.chmod(tmp, _open_mode(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _open_mode(path: Path) -> int:
    """The permission bits ``open(path, "w")`` leaves ``path`` with: its current ones, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


def current_umask() -> int:
    """This process's umask (read from /proc where it can be, so no other thread sees a changed umask)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Strict JSON with sorted keys and a trailing newline, so files diff cleanly: a NaN or infinite float is
    written as null (bare ``NaN``/``Infinity`` is not JSON and strict parsers reject it); a writer that must say
    which values were undefined lists them itself (``results.json``'s ``nonfinite_metrics``)."""
    text = json.dumps(_finite(obj), indent=2, sort_keys=True, default=_json_default, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def _finite(obj: Any) -> Any:
    """``obj`` with every non-finite float (in dicts, lists and tuples) replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(value) for value in obj]
    return obj


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    import torch  # here, so that `bench papers` and `bench table` never import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def read_json(path: str | os.PathLike) -> Any:
    """The JSON in ``path``; a file that does not parse (truncated by a kill, edited by hand) is a ValueError
    naming it."""
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not valid JSON ({error}); restore it, or regenerate it (a run's results: "
                             "`bench score <run dir>`)") from error


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hash of the canonical JSON form (sorted keys, no whitespace) of ``obj``."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, tuple):
        return list(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return _finite(obj.item())
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def write_dir_once(root: str | os.PathLike, generator: dict[str, Any], write: Callable[[Path], Any],
                   owner: str) -> Path:
    """Write a generated folder once: ``write(staging)`` fills a temporary sibling, which ``os.replace`` renames to
    ``root`` with ``generator.json`` inside; an existing ``root`` is reused when that file records the same
    ``generator`` parameters, so a killed run never leaves a half-written folder (used by the generated datasets)."""
    root = Path(root)
    marker = root / "generator.json"
    if root.exists():
        if not marker.is_file() or read_json(marker) != generator:
            raise ValueError(f"{root} exists but was not written by {owner} with these parameters ({marker} "
                             "differs or is missing); choose another root or remove it")
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write(staging)
        atomic_write_json(staging / marker.name, generator)
        try:
            os.replace(staging, root)
        except OSError:
            if not marker.is_file():  # not another process finishing first: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root
