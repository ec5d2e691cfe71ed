"""Safe checkpoint loading: ``weights_only`` unpickling, an allowlist for official metadata, key reports.

torch >= 2.6 loads with ``weights_only=True`` by default, which rejects the numpy objects and mmengine
``HistoryBuffer``s that OpenMMLab full checkpoints keep in ``meta``/``message_hub``, and the yacs ``CfgNode``
that Swin-style repositories (VSSD, VMamba) save as ``config``. Rather than turning
``weights_only`` off (arbitrary code execution), the types known to appear there are allowlisted.
"""
from __future__ import annotations

import collections
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bench.io import sha256_file


class CheckpointError(RuntimeError):
    """A checkpoint file cannot be read (empty, truncated, not a torch file, a type weights-only loading refuses) or
    does not fit the model (lists the missing and unexpected keys)."""


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


REFETCH = "Re-download or re-copy it, or check that the path names the checkpoint you meant."


def load_checkpoint_file(path: str | Path, fix: str = REFETCH) -> Any:
    """Load a checkpoint on CPU with ``weights_only=True`` and the metadata allowlist; a file that is not a
    readable torch checkpoint is a :class:`CheckpointError` naming it, what is wrong and ``fix`` (a sentence: what
    to do about damaged bytes; a refused global always gets the how-to-load-a-trusted-file advice)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes); expected a torch checkpoint (torch.save). {fix}")
    try:
        with torch.serialization.safe_globals(safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, EOFError, KeyError, UnpicklingError... for bad bytes
        raise CheckpointError(unreadable_message(path, error, fix)) from error


_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_SIGNATURES = ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"),
               (b"\x1f\x8b", "a gzip archive"), (b"%PDF", "a PDF document"), (b"\x93NUMPY", "a numpy .npy array"),
               (b"<", "an HTML/XML page (a failed download?)"), (b"{", "a JSON/text file"))


def unreadable_message(path: Path, error: BaseException, fix: str = REFETCH) -> str:
    """Why ``torch.load`` could not read ``path`` (``error``), in words, with the fix: content the weights-only
    unpickler refuses (the global named, with how to load a trusted file), or bytes that are not (or no longer) a
    torch checkpoint."""
    text = str(error)
    with open(path, "rb") as handle:
        head = handle.read(8)
    detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    refused = _GLOBAL.search(text)
    what = (f"a reference to {refused.group(1)}, a global" if refused else  # a pickle holding more than tensors
            f"data ({detail.group(1)})" if detail and head.startswith(b"PK") else None)
    if what:
        return (f"{path} holds {what} that weights-only loading refuses on purpose (unpickling arbitrary objects "
                "can run code). If the file comes from a source you trust, re-save its tensors alone "
                "(torch.load(path, weights_only=False), then torch.save of the state dict) or add the type to the "
                "reviewed allowlist bench.checkpoint.safe_globals(); otherwise do not load it")
    found = next((what for magic, what in _SIGNATURES if head.startswith(magic)), None)
    if found is None and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        found = "a text file"
    elif isinstance(error, EOFError) or re.search(r"central directory|unexpected EOF|corrupt", text):
        found = "truncated or corrupt: it ends early or its archive index is damaged"
    elif head.startswith(b"PK"):
        found = "a zip archive that torch.save did not write"
    elif found is None and detail:
        found = f"bytes that do not unpickle as one: {detail.group(1)[:120]}"
    elif found is None:
        found = f"{type(error).__name__}: {text.splitlines()[0][:120] if text else 'no detail'}"
    return (f"{path} is not a readable torch checkpoint ({found}; {path.stat().st_size} bytes); expected a file "
            f"written by torch.save. {fix}")


def extract_state_dict(checkpoint: Any, keys: tuple[str, ...] = ("state_dict", "model", "model_ema", "module"),
                       path: str | Path | None = None) -> dict:
    """The weights inside a checkpoint: the first of ``keys`` present, else the checkpoint itself (``path`` names
    the file in the error when it holds no dict of weights)."""
    if isinstance(checkpoint, dict):
        for key in keys:
            if key in checkpoint and isinstance(checkpoint[key], dict):
                return checkpoint[key]
    if not isinstance(checkpoint, dict):
        where = f"{path}: " if path is not None else ""
        raise CheckpointError(f"{where}the checkpoint holds a {type(checkpoint).__name__}, not a state dict (a dict of "
                              f"parameter tensors, or one under {', '.join(map(repr, keys)) or 'a key'}); check the "
                              "path points at the model's weights file")
    return checkpoint


def load_weights(model: nn.Module, path: str | Path, *, strict: bool = True, prefix_to_strip: str = "",
                 keys: tuple[str, ...] = ("state_dict", "model", "model_ema", "module")) -> dict[str, Any]:
    """Load ``path`` into ``model``; with ``strict``, any missing or unexpected key is an error listing them.

    Returns provenance facts: path, sha256, which entry of ``keys`` held the weights (None: the file is a plain
    state dict) and the (possibly empty) key lists.
    """
    checkpoint = load_checkpoint_file(path)
    state = extract_state_dict(checkpoint, keys, path)
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
