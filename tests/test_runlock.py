"""Run-folder lock: a second process is refused at once (or waits), the OS frees a killed holder's lock, and a
folder that is a file or cannot be written is refused before anything runs."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.runlock import LOCK_FILE, RunFolderError, RunLockedError, check_writable, run_lock

HOLD = ("import sys, time\nfrom bench.runlock import run_lock\n"
        "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.readline()\n")


def hold(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s lock until its stdin is closed (or it is killed)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def test_a_second_process_is_refused_at_once_naming_the_holder(tmp_path: Path):
    proc = hold(tmp_path / "run")
    try:
        start = time.monotonic()
        with pytest.raises(RunLockedError) as refused:
            with run_lock(tmp_path / "run"):
                pass
        assert time.monotonic() - start < 1.0
        message = str(refused.value)
        assert str((tmp_path / "run").resolve()) in message
        assert f"pid {proc.pid} on {socket.gethostname()} since 20" in message
        assert "Wait for it to finish" in message and "another --work-dir" in message
    finally:
        proc.stdin.close()
        proc.wait()
    with run_lock(tmp_path / "run"):  # released when the holder left
        assert (tmp_path / "run" / LOCK_FILE).read_text().startswith(f'{{"pid": {os.getpid()}')
    assert (tmp_path / "run" / LOCK_FILE).read_text() == ""


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path):
    proc = hold(tmp_path / "run")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with run_lock(tmp_path / "run", wait=False):
        pass


def test_wait_blocks_until_the_holder_is_done(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    proc = hold(tmp_path / "train")
    threading.Timer(0.5, proc.stdin.close).start()
    start = time.monotonic()
    with caplog.at_level("INFO", logger="bench"):
        with run_lock(tmp_path / "train", what="training", wait=True):
            waited = time.monotonic() - start
    proc.wait()
    assert waited >= 0.4
    assert f"in use by another training (pid {proc.pid}" in caplog.text and "waiting for it to finish" in caplog.text


def test_the_lock_is_reentrant_within_a_process(tmp_path: Path):
    with run_lock(tmp_path / "r") as outer:
        with run_lock(tmp_path / "r") as inner:  # `bench run` scores while it holds its folder
            assert inner == outer
        assert outer.joinpath(LOCK_FILE).read_text()  # still held: the record stays
    assert outer.joinpath(LOCK_FILE).read_text() == ""


def test_a_work_dir_that_is_a_file_is_refused(tmp_path: Path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match=r"file is a file, not a folder, so .*file/run cannot be created; "
                                             r"choose another --work-dir"):
        check_writable(tmp_path / "file" / "run")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        with run_lock(tmp_path / "file"):
            pass


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path: Path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(RunFolderError, match=r"cannot write to .*ro \(Permission denied\); make it writable"):
            check_writable(folder)
    finally:
        folder.chmod(0o755)


def test_a_failed_write_probe_is_refused_naming_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("bench.runlock.tempfile.TemporaryFile", read_only)
    with pytest.raises(RunFolderError, match=rf"cannot write to {tmp_path}/x \(Read-only file system\); make it "
                                             "writable .* or choose another --work-dir"):
        check_writable(tmp_path / "x")
