"""The one precision setting: its names, their dtypes and the autocast context every forward pass runs under.

A run's ``run.precision``, ``bench cost --precision`` and the adapters' own options (the diffusion samplers'
``dtype``, Trident's per-stage ``precision``) all take these names, so "fp16" means the same thing everywhere:
``torch.autocast`` to float16 (or the weights cast to it, for adapters that hold half-precision weights as their
official code does). torch is imported only when a dtype is needed,
so the CLI can list the names without it.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

PRECISIONS = ("fp32", "fp16", "bf16")
_TORCH_NAMES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def check_precision(precision: str, where: str = "precision") -> str:
    """``precision`` if it is one of :data:`PRECISIONS`; else a ValueError naming ``where`` and the allowed names."""
    if precision not in PRECISIONS:
        raise ValueError(f"{where} must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def dtype_of(precision: str, where: str = "precision") -> torch.dtype:
    """The torch dtype a precision name stands for (``"bf16"`` -> ``torch.bfloat16``)."""
    import torch

    return getattr(torch, _TORCH_NAMES[check_precision(precision, where)])


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """No-op for fp32; else ``torch.autocast`` on ``device``'s type to the precision's dtype (CPU and CUDA alike)."""
    import torch

    dtype = dtype_of(precision, "run.precision")
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
