"""Plain helpers the tests import (``from helpers import REPO``); fixtures stay in conftest.py.

A test module importing ``conftest`` gets whichever conftest.py was imported first under that name (tests/ or
tests/benchmarks/), so ``pytest tests`` failed to collect; a helper module has one unambiguous name.
"""
from __future__ import annotations

from pathlib import Path

from bench.config import load_config

REPO = Path(__file__).resolve().parents[1]
DEMO = "demo/harness_digits"


def eval_config(work_dir: Path, checkpoint: Path, **options):  # noqa: ANN201 - an mmengine Config
    """The demo config without its train stage, evaluating ``checkpoint`` into ``work_dir``."""
    cfg = load_config(DEMO, {"run.work_dir": str(work_dir), "method.checkpoint": str(checkpoint), **options})
    cfg.pop("train")
    return cfg


def rounding_tolerance(dtype, magnitude: float, roundings: int = 1) -> float:  # noqa: ANN001 - a torch dtype
    """``roundings`` x eps(dtype) x ``magnitude``: the most that many round-offs can move a result of that magnitude
    (a sum's magnitude is the sum of its terms' absolute values). For golden values a reimplementation matched bit
    for bit: another BLAS or summation order moves a result by about one rounding per dependent step (see
    tests/golden/README.md for how golden values and their tolerances are set)."""
    import torch

    return roundings * torch.finfo(dtype).eps * magnitude


def layer_roundings(model) -> int:  # noqa: ANN001 - a torch module
    """Dependent roundings another kernel may reorder in one forward pass: one per conv, linear and norm layer."""
    from torch import nn

    return sum(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear, nn.GroupNorm)) for m in model.modules())


def seeded_state_dict(model, dtype):  # noqa: ANN001, ANN201 - a torch module and dtype; a state dict
    """A state dict for ``model`` that is the same on every CPU and independent of construction order: key i (sorted)
    is drawn in float64 from a generator seeded with i (float64 ``randn`` is the one draw all ATen CPU capabilities
    agree on: float32 ``normal_`` and ``uniform_(a, b)``, hence PyTorch's default inits, move by an ulp without
    AVX2); 1-D ``.weight`` entries (norm scales) are 1 + noise, everything else noise, both with scale 0.05."""
    import torch

    state = {}
    for index, (key, value) in enumerate(sorted(model.state_dict().items())):
        noise = torch.randn(value.shape, generator=torch.Generator().manual_seed(index), dtype=torch.float64)
        state[key] = ((1 + 0.05 * noise) if key.endswith(".weight") and value.ndim == 1 else 0.05 * noise).to(dtype)
    return state
