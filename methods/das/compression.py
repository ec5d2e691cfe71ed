"""Dataset compression (DAS paper §4.3, Table 7, as the sheet summarises it): per query, only the ``top`` training
samples whose CLIP image embeddings are closest (cosine) to the query's are attributed; every other training sample
gets the score 0 (no attribution).

Neither ``Jinxu-Lin/DAS`` nor ``sail-sg/D-TRAK`` holds this step, so its semantics are decided here from the paper's
wording ("rank only the top-1000 training samples by CLIP similarity"):

- CLIP: any image embedder of ``bench.registry.EXTRACTORS`` (``CLIPScoreFeatures`` from a local checkpoint). The
  CLIP baseline notebook D-TRAK ships (copied into DAS's history as ``CIFAR2/methods/00_clip/CLIP_N5000_val.ipynb``,
  deleted at commit cb776fd) uses OpenAI CLIP ViT-B/32 with its own preprocessing and the cosine of the image
  embeddings: ``CLIPScoreFeatures(model_name="ViT-B-32", tag="openai")`` is that model and transform.
- Candidates: per query, the ``top`` highest cosines, ties in ascending training position.
- Non-candidates score 0, not −inf and not "left out": the LDS predicts a subset's output as the sum of the scores
  of the samples it keeps and correlates that across subsets, so a sample can only be left out of that sum, which
  is what 0 does; −inf would make every sum −inf. The LDS itself is unchanged (every subset, every training mask).
- The kernel is unchanged (ΦᵀΦ over the whole training set, as without compression), so a candidate's score equals
  its uncompressed score exactly; only the query × candidate scores are computed
  (:meth:`bench.methods.das.scores.RidgeKernel.scores_at`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from bench.suggest import suggest

COMPRESSION_KEYS = ("top", "extractor")
EMBEDDING_FORMAT = 1  # bump when train_embeddings changes


def check_compression(spec: Any) -> dict[str, Any]:
    """``compression=dict(top=<candidates per query>, extractor=<EXTRACTORS spec>)``, checked; a ValueError naming
    the key and the fix otherwise."""
    if not isinstance(spec, dict):
        raise ValueError(f"DataAttribution: compression must be dict(top=1000, extractor=dict(type="
                         f"'CLIPScoreFeatures', checkpoint=...)), got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(COMPRESSION_KEYS))
    if unknown:
        raise ValueError(f"DataAttribution: compression has unknown key(s) {unknown}; the keys are "
                         f"{', '.join(COMPRESSION_KEYS)}" + suggest(unknown[0], COMPRESSION_KEYS))
    top = spec.get("top")
    if isinstance(top, bool) or not isinstance(top, int) or top <= 0:
        raise ValueError(f"DataAttribution: compression.top must be a positive number of training samples ranked "
                         f"per query (the paper: 1000), got {top!r}")
    extractor = spec.get("extractor")
    if not isinstance(extractor, dict) or "type" not in extractor:
        raise ValueError("DataAttribution: compression.extractor must be an image extractor spec with a 'type', e.g. "
                         "dict(type='CLIPScoreFeatures', checkpoint=<open_clip ViT-B-32 openai weights>, "
                         f"model_name='ViT-B-32', tag='openai'), got {extractor!r}")
    return {"top": int(top), "extractor": dict(extractor)}


def embed_images(extractor: Any, load: Callable[[int, int], torch.Tensor], count: int,
                 batch_size: int = 64) -> torch.Tensor:
    """Embeddings [count, D] float32 (CPU) of ``load(start, stop)``'s float images [B, C, H, W] in [0, 1], fed to
    ``extractor`` as uint8 [B, H, W, C] (how the extractors take images)."""
    from bench.tasks.generation.exports import dataset_images_uint8

    parts = [extractor(dataset_images_uint8(load(start, min(start + batch_size, count))))["pool"].float().cpu()
             for start in range(0, count, batch_size)]
    return torch.cat(parts)


def clip_candidates(query_embeddings: torch.Tensor, train_embeddings: torch.Tensor, top: int) -> torch.Tensor:
    """Per query, the training positions of its ``min(top, N)`` highest cosines [Q, min(top, N)] int64, highest
    first, equal cosines in ascending position."""
    from bench.tasks.attribution.counterfactual import rank_top_k

    queries = torch.nn.functional.normalize(torch.as_tensor(query_embeddings).double(), dim=-1)
    train = torch.nn.functional.normalize(torch.as_tensor(train_embeddings).double(), dim=-1)
    if queries.ndim != 2 or train.ndim != 2 or queries.shape[1] != train.shape[1]:
        raise ValueError(f"clip_candidates: expected query [Q, D] and training [N, D] embeddings, got "
                         f"{list(queries.shape)} and {list(train.shape)}")
    cosine = (queries @ train.T).numpy()
    return torch.from_numpy(np.ascontiguousarray(rank_top_k(cosine, min(int(top), train.shape[0]),
                                                            "compression")))
