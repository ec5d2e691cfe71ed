"""Atomic writes: the file appears whole or not at all, with the mode a plain open() would give it."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bench.io import atomic_write_json, atomic_writer, current_umask


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_mode_of_a_plain_open(tmp_path: Path, umask, mask: int, expected: int):
    umask(mask)
    assert current_umask() == mask
    atomic_write_json(tmp_path / "results.json", {"a": 1})
    with open(tmp_path / "plain.json", "w") as handle:
        handle.write("{}")
    assert mode(tmp_path / "results.json") == mode(tmp_path / "plain.json") == expected


def test_a_replaced_file_keeps_its_mode(tmp_path: Path, umask):
    umask(0o022)
    path = tmp_path / "provenance.json"
    path.write_text("{}")
    path.chmod(0o640)
    atomic_write_json(path, {"b": 2})
    assert mode(path) == 0o640 and path.read_text() == '{\n  "b": 2\n}\n'


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path: Path):
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_writer(tmp_path / "out.bin") as handle:
            handle.write(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
