"""One process per folder: an OS file lock on ``<folder>/.lock`` for a run or a train stage.

Two ``bench run`` processes of one config used to compute every sample twice into one store. ``run_lock`` takes
``fcntl.flock`` on ``<folder>/.lock`` (the ranks of one launch are one run: only rank 0 takes it); the OS drops
the lock when the holder exits, killed or not, so a stale lock never needs cleaning up. The holder writes its pid,
host and start time into the file, so a refused process can name it. The lock is re-entrant within one process
(``bench run`` holds it while it scores). Where ``fcntl`` is missing (Windows) the folder is not locked: a
warning says so once, and everything else works as before.

Before the lock is taken the folder is checked for use: a path that is a file, or a folder that cannot be written,
is refused with the path and the fix before anything is computed.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no advisory locks; see the module docstring
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("bench")
LOCK_FILE = ".lock"
_held: dict[Path, int] = {}  # folder -> nesting depth of this process's lock on it
_warned: list[bool] = []


class RunFolderError(RuntimeError):
    """A run or train folder cannot be used: it is a file, cannot be written, or another process holds it."""


class RunLockedError(RunFolderError):
    """Another process holds the folder's lock."""


def check_writable(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (and parents) and prove a file can be written in it; refuse with the path and the fix."""
    folder = Path(folder)
    for path in (folder, *folder.parents):
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{path} is a file, not a folder, so {folder} cannot be created; choose another "
                                 "--work-dir (or BENCH_RESULTS_DIR), or move that file away")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".write-probe-"):
            pass
    except OSError as error:
        raise RunFolderError(f"cannot write to {folder} ({error.strerror or error}); make it writable (e.g. "
                             "chmod u+w), free space on its disk, or choose another --work-dir "
                             "(or BENCH_RESULTS_DIR)") from error
    return folder


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, what: str = "run", wait: bool = False) -> Iterator[Path]:
    """Hold the lock of ``folder`` for the block. Held by another process: raise :class:`RunLockedError` naming the
    holder, or with ``wait`` log who holds it and block until it is released."""
    folder = check_writable(folder).resolve()
    if folder in _held:
        _held[folder] += 1
        try:
            yield folder
        finally:
            _held[folder] -= 1
        return
    if fcntl is None:
        if not _warned:
            _warned.append(True)
            log.warning("no fcntl on this platform: %s is not locked against a second process", folder)
        yield folder
        return
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(folder / LOCK_FILE)
            if not wait:
                raise RunLockedError(
                    f"{folder} is in use by another {what} ({holder}); two processes in one folder would store "
                    "every sample twice. Wait for it to finish (then add --resume if it was interrupted), or "
                    "use another --work-dir") from None
            log.info("%s is in use by another %s (%s); waiting for it to finish", folder, what, holder)
            fcntl.flock(fd, fcntl.LOCK_EX)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                  "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        _held[folder] = 1
        try:
            yield folder
        finally:
            del _held[folder]
            os.ftruncate(fd, 0)  # before the unlock: the next holder writes its own record
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _describe_holder(path: Path) -> str:
    """``pid 123 on host-a since 2024-...`` from the lock file (written by the holder right after locking)."""
    try:
        record = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        record = {}
    if not record:
        return "holder not yet recorded"
    return f"pid {record.get('pid')} on {record.get('host')} since {record.get('started')}"
