"""``MM_VSSD``: the VSSD backbone under the official config's name and keywords, for mmseg and mmdet.

Importing this module registers ``MM_VSSD`` in mmsegmentation's and mmdetection's ``MODELS`` registries when
those packages are installed (the ``seg`` extra), so the official UperNet / Mask R-CNN config dicts build
unchanged; from an mmseg/mmdet config, ``custom_imports=dict(imports=["bench.methods.vssd.dense"])`` does it.
Only the released settings are implemented (pure-PyTorch NC-SSD, the convolutional stem and downsampling,
unidirectional, Mamba2 mixers then attention); other values of those switches raise.
"""
from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.methods.vssd.model import VSSDBackbone

#: official ``attn_types`` entries → our mixer names
MIXERS = {"mamba2": "nc_ssd", "standard": "attention"}
#: switches of the official ``Backbone_VMAMBA2`` whose released value is the only one implemented here
RELEASED = {"simple_downsample": False, "simple_patch_embed": False, "linear_attn_duality": True,
            "bidirection": False}


class MMVSSD(VSSDBackbone):
    """``Backbone_VMAMBA2`` / ``MM_VSSD`` keywords (``ssd_expand``, ``ssd_positve_dA`` [sic], ``attn_types``,
    ``pretrained``, ``key``) mapped onto :class:`VSSDBackbone`. ``ssd_chunk_size`` only tunes the Triton
    chunked scan, which the linear (``linear_attn_duality``) path does not use, so it is accepted and ignored."""

    def __init__(self, embed_dim: int = 64, depths: Sequence[int] = (2, 4, 8, 4),
                 num_heads: Sequence[int] = (2, 4, 8, 16), d_state: int = 64, drop_path_rate: float = 0.2,
                 out_indices: Sequence[int] = (0, 1, 2, 3), pretrained: str | Path | None = None,
                 key: str = "model", ssd_expand: int = 2, ssd_positve_dA: bool = True,  # noqa: N803 (official)
                 attn_types: Sequence[str] = ("mamba2", "mamba2", "mamba2", "standard"), mlp_ratio: float = 4.0,
                 ssd_chunk_size: int = 256, **switches: Any) -> None:
        unknown = sorted(set(switches) - set(RELEASED))
        if unknown:
            raise TypeError(f"MM_VSSD got unexpected keyword(s) {unknown}")
        unsupported = {k: v for k, v in switches.items() if v != RELEASED[k]}
        if unsupported:
            raise ValueError(f"MM_VSSD implements the released configs only ({RELEASED}); got {unsupported}")
        bad = [t for t in attn_types if t not in MIXERS]
        if bad:
            raise ValueError(f"attn_types entries must be among {sorted(MIXERS)}, got {bad}")
        self.ssd_chunk_size = ssd_chunk_size
        super().__init__(out_indices=out_indices, pretrained=pretrained, key=key, embed_dim=embed_dim,
                         depths=depths, num_heads=num_heads, d_state=d_state, drop_path_rate=drop_path_rate,
                         ssd_expansion=ssd_expand, positive_dA=ssd_positve_dA, mlp_ratio=mlp_ratio,
                         mixers=tuple(MIXERS[t] for t in attn_types))


def register_mm_vssd() -> list[str]:
    """Register ``MM_VSSD`` in the ``MODELS`` registry of mmseg and mmdet, where installed; returns which."""
    registered = []
    for package in ("mmseg", "mmdet"):
        try:
            registry = importlib.import_module(f"{package}.registry").MODELS
        except ImportError:
            continue
        if registry.get("MM_VSSD") is None:
            registry.register_module(name="MM_VSSD", module=MMVSSD)
        registered.append(package)
    return registered


REGISTERED_IN = register_mm_vssd()
