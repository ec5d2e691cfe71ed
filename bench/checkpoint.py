"""Safe checkpoint loading: ``weights_only`` unpickling, an allowlist for official metadata, key reports.

torch >= 2.6 loads with ``weights_only=True`` by default, which rejects the numpy objects and mmengine
``HistoryBuffer``s that OpenMMLab full checkpoints keep in ``meta``/``message_hub``, and the yacs ``CfgNode``
that Swin-style repositories (VSSD, VMamba) save as ``config``. Rather than turning
``weights_only`` off (arbitrary code execution), the types known to appear there are allowlisted.
"""
from __future__ import annotations

import collections
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.io import sha256_file


class CheckpointError(RuntimeError):
    """A checkpoint does not fit the model: lists the missing and unexpected keys."""


def _numpy_globals() -> list[Any]:
    items: list[Any] = [np.ndarray, np.dtype, collections.OrderedDict]
    try:  # numpy >= 2 moved the reconstruct helper to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar  # type: ignore[no-redef]
    items += [_reconstruct, scalar]
    items += [type(np.dtype(t)) for t in ("float16", "float32", "float64", "int32", "int64", "bool", "uint8")]
    return items


def _mmengine_globals() -> list[Any]:
    try:
        from mmengine.logging.history_buffer import HistoryBuffer
    except ImportError:  # pragma: no cover
        return []

    def history_buffer_method(obj: Any, name: str) -> Any:
        """Stand-in for ``getattr`` in unpickling: a HistoryBuffer pickles its statistic methods as
        ``getattr(buffer, "mean")``; allowing the real ``getattr`` would reopen arbitrary code execution."""
        owner = obj if isinstance(obj, type) else type(obj)
        if issubclass(owner, HistoryBuffer) and name in ("min", "max", "mean", "current"):
            return getattr(obj, name)
        raise pickle.UnpicklingError(f"getattr({owner.__name__}, {name!r}) is not allowed in a checkpoint")

    return [HistoryBuffer, (history_buffer_method, "builtins.getattr")]


class YacsConfigNode:
    """Stand-in for ``yacs.config.CfgNode`` (the training config Swin-style repos save beside the weights, e.g.
    VSSD's ``save_checkpoint_ema``): it unpickles as an ``OrderedDict``, the one dict type whose items and
    attributes the weights-only unpickler may set, so the config can be read without yacs or unsafe loading."""

    def __new__(cls, *args: Any) -> collections.OrderedDict:  # type: ignore[misc]
        return collections.OrderedDict()


def safe_globals() -> list[Any]:
    """Types allowed when unpickling official checkpoints (numpy arrays/scalars, mmengine message hubs, yacs
    training configs)."""
    return _numpy_globals() + _mmengine_globals() + [(YacsConfigNode, "yacs.config.CfgNode")]


def load_checkpoint_file(path: str | Path) -> Any:
    """Load a checkpoint on CPU with ``weights_only=True`` and the metadata allowlist."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    with torch.serialization.safe_globals(safe_globals()):
        return torch.load(path, map_location="cpu", weights_only=True)


def extract_state_dict(checkpoint: Any, keys: tuple[str, ...] = ("state_dict", "model", "model_ema", "module")) -> dict:
    """The weights inside a checkpoint: the first of ``keys`` present, else the checkpoint itself."""
    if isinstance(checkpoint, dict):
        for key in keys:
            if key in checkpoint and isinstance(checkpoint[key], dict):
                return checkpoint[key]
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"checkpoint holds a {type(checkpoint).__name__}, not a state dict")
    return checkpoint


def load_weights(model: nn.Module, path: str | Path, *, strict: bool = True, prefix_to_strip: str = "",
                 keys: tuple[str, ...] = ("state_dict", "model", "model_ema", "module")) -> dict[str, Any]:
    """Load ``path`` into ``model``; with ``strict``, any missing or unexpected key is an error listing them.

    Returns provenance facts: path, sha256, which entry of ``keys`` held the weights (None: the file is a plain
    state dict) and the (possibly empty) key lists.
    """
    checkpoint = load_checkpoint_file(path)
    state = extract_state_dict(checkpoint, keys)
    used_key = next((k for k in keys if isinstance(checkpoint, dict) and isinstance(checkpoint.get(k), dict)), None)
    if prefix_to_strip:
        state = {k[len(prefix_to_strip):] if k.startswith(prefix_to_strip) else k: v for k, v in state.items()}
    missing, unexpected = _load_checked(model, state, path, strict)
    return {"path": str(path), "sha256": sha256_file(path), "state_dict_key": used_key, "missing_keys": missing,
            "unexpected_keys": unexpected}


def state_mismatch(model: nn.Module, state: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Keys ``model`` has that ``state`` lacks, keys ``state`` has that ``model`` lacks, and shared keys whose
    shapes differ (as ``"key (checkpoint shape) vs (model shape)"``)."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    reshaped = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
                if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    return missing, unexpected, reshaped


def load_state_strict(model: nn.Module, state: dict[str, Any], path: str | Path, hint: str | None = None) -> None:
    """``model.load_state_dict(state)``, with an error that names the file, both key lists, the reshaped keys and
    ``hint`` (torch's own error names neither the file nor the fix)."""
    _load_checked(model, state, path, strict=True, hint=hint)


def _load_checked(model: nn.Module, state: dict[str, Any], path: str | Path, strict: bool,
                  hint: str | None = None) -> tuple[list[str], list[str]]:
    """Load non-strictly, so modules' load hooks still rename legacy keys (torchvision's DenseNet), after checking
    shapes; with ``strict``, keys left missing or unexpected after the hooks are an error."""
    extra: dict[str, Any] = {"hint": hint} if hint else {}
    missing, unexpected, reshaped = state_mismatch(model, state)
    if reshaped:
        raise CheckpointError(mismatch_message(path, model, missing, unexpected, reshaped=reshaped, **extra))
    result = model.load_state_dict(state, strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if strict and (missing or unexpected):
        raise CheckpointError(mismatch_message(path, model, missing, unexpected, **extra))
    return missing, unexpected


def mismatch_message(path: str | Path, model: nn.Module, missing: list[str], unexpected: list[str],
                     hint: str = "Check that the config's model matches the checkpoint (variant, number of classes).",
                     reshaped: list[str] | None = None) -> str:
    """The error text for a checkpoint whose keys do not fit ``model``: both key lists and any shape mismatches,
    previewed, and a hint."""
    shapes = f"  shape mismatches ({len(reshaped)}): {_preview(reshaped)}\n" if reshaped else ""
    return (f"{path} does not match {type(model).__name__}:\n"
            f"  missing keys ({len(missing)}): {_preview(missing)}\n"
            f"  unexpected keys ({len(unexpected)}): {_preview(unexpected)}\n{shapes}{hint}")


def _preview(keys: list[str], n: int = 10) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f", ... (+{len(keys) - n} more)" if len(keys) > n else "") if keys else "none"
