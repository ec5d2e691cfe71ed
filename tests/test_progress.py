"""bench.progress: bars only on a terminal, BENCH_PROGRESS overrides, and a hidden bar still iterates."""
from __future__ import annotations

import pytest

from bench.progress import progress, progress_enabled


@pytest.mark.parametrize(("forced", "expected"), [("1", True), ("0", False)])
def test_environment_forces_bars(monkeypatch: pytest.MonkeyPatch, forced: str, expected: bool):
    monkeypatch.setenv("BENCH_PROGRESS", forced)
    assert progress_enabled() is expected
    assert progress(range(3)).disable is not expected


def test_no_terminal_no_bar(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BENCH_PROGRESS", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    bar = progress(range(4), desc="quiet")
    assert bar.disable and list(bar) == [0, 1, 2, 3]


def test_show_false_hides_even_when_forced(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BENCH_PROGRESS", "1")
    assert progress(total=5, show=False).disable
