"""A crafted pickle that runs a shell command when loaded with plain ``pickle``: the payload of the malicious
data-file tests (it only creates a marker file, so a test can tell whether the command ran)."""
from __future__ import annotations

import os
import pickle
import shlex
from pathlib import Path


class CreatesMarker:
    """Unpickles as ``os.system("touch <marker>")`` (the global ``posix.system`` on Linux and macOS)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def malicious_pickle(marker: Path, wrap: bool = True) -> bytes:
    """Pickled bytes that create ``marker`` when loaded; ``wrap`` hides the payload inside a CIFAR-like dict."""
    payload = CreatesMarker(marker)
    return pickle.dumps({b"data": payload, b"labels": [0]} if wrap else payload, protocol=2)
