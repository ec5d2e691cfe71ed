"""Logits and labels saved together in one torch file: the format of the calibrator library's shipped logits.

Linwei94/calibrator ships ``tests/test_logits/resnet50_cifar10_{cross_entropy,focal_loss}_{val_0.1,test_0.9}_
vanilla.pt``, each ``torch.save((logits [N, C], labels [N]))``; the CC sheet's derived regression table comes
from them. Those files are not ours to ship: point ``path`` at a local copy of that repository.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from bench.checkpoint import load_checkpoint_file
from bench.data import BenchDataset
from bench.io import sha256_file
from bench.registry import DATASETS


@DATASETS.register_module()
class LogitsFile(BenchDataset):
    """Items ``{"logits": [C], "target": int64}`` from ``(logits, labels)`` or ``{"logits", "labels"}`` in a file.

    Sample ids are ``<file stem>-<index:05d>``; the fingerprint is the file's sha256.
    """

    layout = ("<path>.pt   torch.save((logits: float [N, C], labels: int [N]))\n"
              "  or torch.save({'logits': ..., 'labels': ...})")
    obtain = ("git clone https://github.com/Linwei94/calibrator and use its tests/test_logits/*.pt, or save your "
              "own classifier's (logits, labels) with torch.save")

    def __init__(self, path: str) -> None:
        self.path = self.require(path)
        try:  # weights-only loading: a file that names other globals is refused, not run
            content = load_checkpoint_file(self.path)
        except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as error:
            raise self.layout_error(self.path, f"cannot read the torch file ({type(error).__name__}: "
                                               f"{str(error).splitlines()[0] if str(error) else ''}); it is corrupt, "
                                               "truncated or holds more than tensors") from error
        if isinstance(content, dict) and {"logits", "labels"} <= set(content):
            logits, labels = content["logits"], content["labels"]
        elif isinstance(content, (tuple, list)) and len(content) == 2:
            logits, labels = content
        else:
            raise self.layout_error(self.path, f"unexpected content {type(content).__name__}")
        if not (torch.is_tensor(logits) and logits.ndim == 2 and torch.is_tensor(labels)
                and labels.shape == (len(logits),)):
            raise self.layout_error(self.path, "logits must be [N, C] and labels [N]")
        if labels.is_floating_point() or (len(labels) and not 0 <= int(labels.min()) <= int(labels.max())
                                          < logits.shape[1]):
            raise self.layout_error(self.path, f"labels must be integer class ids 0..{logits.shape[1] - 1} (the "
                                               f"logits' {logits.shape[1]} columns), got dtype {labels.dtype}, range "
                                               f"{labels.min().item() if len(labels) else None}.."
                                               f"{labels.max().item() if len(labels) else None}")
        self.logits, self.targets = logits.float(), labels.long()
        self.stem = Path(path).stem

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"logits": self.logits[index], "target": self.targets[index]}

    def sample_id(self, index: int) -> str:
        return f"{self.stem}-{index:05d}"

    def fingerprint(self) -> str:
        return sha256_file(self.path)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "path": str(self.path), "num_classes": int(self.logits.shape[1])}
