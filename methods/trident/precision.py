"""Which dtype each Trident stage runs in: the official ``precision='fp16'`` layout, or one dtype throughout.

The official code builds CLIP with open_clip's ``create_model(..., precision='fp16')``: LayerNorms are
``LayerNormFp32`` (computed in float32, cast back) and ``convert_weights_to_lp`` casts only conv, linear and
attention weights and the two projections, so LayerNorm, the class/position embeddings, the token embedding and
``logit_scale`` stay float32. DINO and SAM's image encoder are cast whole with ``.half()``; SAM's prompt encoder
and mask decoder go back to float32. Everything downstream then stays in the encoders' float16: the DINO proxy
attention and CLIP's replaced last block, the splicing of windows, the SAM-guided aggregation (SAM's value
similarity, thresholds and weights are computed from SAM's float16 tensors) and the classification (``ln_post``,
``proj``, cosine logits and their upsampling); only ``logit_scale``, the softmax and what follows run in float32.
A precision name (``"fp16"``, ``"fp32"``, ``"bf16"``) sets every stage to that dtype; a dict names a ``default``
and overrides single stages, e.g. ``dict(default="fp16", aggregation="fp32")``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

from bench.precision import PRECISIONS, dtype_of

#: stage -> what runs in its dtype (the keys of a ``precision`` dict)
STAGES = {
    "clip": "CLIP image and text towers (open_clip low-precision layout: LayerNorm, class/position/token "
            "embeddings and logit_scale stay float32) and the text-embedding averaging",
    "dino": "DINO ViT-B/16, cast whole",
    "sam_encoder": "SAM image encoder, cast whole (prompt encoder and mask decoder always float32)",
    "proxy_attention": "DINO cosine-similarity attention and CLIP's replaced last block",
    "splice": "pasting window features into the canvas, averaging overlaps",
    "aggregation": "SAM value similarity, thresholds, weights and the weighted sum",
    "classification": "ln_post, proj, cosine logits and their upsampling (softmax after it in float32)",
}


@dataclass(frozen=True)
class StagePrecision:
    """The dtype of each stage in :data:`STAGES`."""

    clip: torch.dtype
    dino: torch.dtype
    sam_encoder: torch.dtype
    proxy_attention: torch.dtype
    splice: torch.dtype
    aggregation: torch.dtype
    classification: torch.dtype

    @classmethod
    def parse(cls, precision: str | dict[str, str], where: str = "Trident: precision") -> StagePrecision:
        """From a precision name (every stage) or a dict ``{"default": name, <stage>: name, ...}``."""
        if isinstance(precision, str):
            return cls(**dict.fromkeys(STAGES, dtype_of(precision, where)))
        if not isinstance(precision, dict):
            raise ValueError(f"{where} must be one of {', '.join(PRECISIONS)} or a dict of stage dtypes, "
                             f"got {precision!r}")
        unknown = sorted(set(precision) - {"default", *STAGES})
        if unknown:
            raise ValueError(f"{where} has unknown stage(s) {', '.join(unknown)}; the stages are "
                             f"default, {', '.join(STAGES)}")
        default = precision.get("default", "fp32")
        return cls(**{stage: dtype_of(precision.get(stage, default), f"{where}.{stage}") for stage in STAGES})

    def low_precision_clip(self) -> torch.dtype | None:
        """The dtype open_clip's ``convert_weights_to_lp`` casts CLIP to, or None for a float32 CLIP."""
        return None if self.clip == torch.float32 else self.clip

    def describe(self) -> dict[str, Any]:
        """Stage -> dtype name, for provenance."""
        return {**{f.name: str(getattr(self, f.name)).removeprefix("torch.") for f in fields(self)},
                "sam_decoder": "float32"}
