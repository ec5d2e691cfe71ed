"""Load CollagePrompt's shipped predictor weights (``baseline/lcp/weights/weights_train_{2x2,3x3}/499.pth``).

Each file is a plain state dict (``torch.save(model.state_dict())`` from torch 1.4: the legacy, non-zip
serialisation, pickle protocol 2), so it loads with ``weights_only=True`` through ``bench.checkpoint``. Its 14
tensors map onto :class:`CollageAccuracyPredictor` as :data:`OFFICIAL_KEY_MAP` says:

- ``conv{1,2,3}.weight [in, out]`` (PyG 1.3's ``GCNConv`` and the official ``GCN`` both multiply ``x @ W``) ->
  ``conv{1,2,3}.lin.weight [out, in]`` (current ``GCNConv`` and :class:`WeightedGCN` hold an ``nn.Linear``),
  transposed;
- ``conv*.bias``, ``pool{1,2}.att [1, 2h]``, ``lin{1,2,3}.{weight,bias}``: same name, same layout.

The training target's mean and std are not in the file (the scripts recompute them from the training metainfo);
pass them to get scores in accuracy units, else scores stay standardised (the GA's ranking is the same either way).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from bench.checkpoint import CheckpointError, extract_state_dict, load_checkpoint_file, load_state_strict

from .predictor import CollageAccuracyPredictor

#: official key -> (our key, transpose?)
OFFICIAL_KEY_MAP: dict[str, tuple[str, bool]] = {
    **{f"conv{i}.weight": (f"conv{i}.lin.weight", True) for i in (1, 2, 3)},
    **{f"conv{i}.bias": (f"conv{i}.bias", False) for i in (1, 2, 3)},
    **{f"pool{i}.att": (f"pool{i}.att", False) for i in (1, 2)},
    **{f"lin{i}.{p}": (f"lin{i}.{p}", False) for i in (1, 2, 3) for p in ("weight", "bias")},
}


def map_official_state(state: dict[str, Any], path: str | Path) -> dict[str, Tensor]:
    """The official state dict renamed (and transposed) onto our module names; CheckpointError naming ``path`` and
    the keys that do not match when the file is not that layout."""
    unexpected = sorted(k for k in state if k not in OFFICIAL_KEY_MAP)
    missing = sorted(k for k in OFFICIAL_KEY_MAP if k not in state)
    not_tensors = sorted(k for k in OFFICIAL_KEY_MAP if k in state and not torch.is_tensor(state[k]))
    if unexpected or missing or not_tensors:
        raise CheckpointError(
            f"{path} is not CollagePrompt's predictor state dict (baseline/lcp/models.py Model): "
            f"official keys missing ({len(missing)}): {', '.join(missing) or 'none'}; "
            f"unmatched keys ({len(unexpected)}): {', '.join(unexpected[:10]) or 'none'}"
            + (f"; not tensors: {', '.join(not_tensors)}" if not_tensors else "")
            + ". Point the path at baseline/lcp/weights/weights_train_{2x2,3x3}/499.pth of siyuhsu/CollagePrompt "
              "(a predictor trained here loads with load_state_dict instead)")
    mapped = {}
    for key, (ours, transpose) in OFFICIAL_KEY_MAP.items():
        tensor = state[key]
        if transpose and tensor.ndim != 2:
            raise CheckpointError(f"{path}: {key} has shape {tuple(tensor.shape)}, expected a matrix [in, out]")
        mapped[ours] = tensor.t().contiguous() if transpose else tensor
    return mapped


def load_official_predictor(path: str | Path, *, mean: float | None = None, std: float | None = None,
                            **model_kwargs: Any) -> CollageAccuracyPredictor:
    """A :class:`CollageAccuracyPredictor` (eval mode) holding the official weights in ``path``.

    ``mean`` / ``std``: the training target's statistics (mean correctness over the official training collages and
    its unbiased std), stored in the model so scores are accuracies; both or neither. ``model_kwargs`` override the
    official architecture (in_dim and hidden are read from the file).
    """
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std of the training target (or neither, for standardised scores)")
    if std is not None and not std > 0:
        raise ValueError(f"std must be positive, got {std}")
    state = extract_state_dict(load_checkpoint_file(path), path=path)
    mapped = map_official_state(state, path)
    hidden, in_dim = mapped["conv1.lin.weight"].shape
    model = CollageAccuracyPredictor(**{"in_dim": int(in_dim), "hidden": int(hidden), **model_kwargs})
    mapped["target_mean"] = torch.tensor(0.0 if mean is None else float(mean))
    mapped["target_std"] = torch.tensor(1.0 if std is None else float(std))
    load_state_strict(model, mapped, path, hint="The official file's shapes do not fit the architecture asked for; "
                                                "leave in_dim/hidden to the file.")
    return model.eval()
