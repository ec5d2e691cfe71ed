"""The text branch's guidance similarity σ between a decoded x̂₀ and its nearest reference image n₀ (AMG-sd
``scripts/txt2img.py`` ``cond_fn``), differentiable in the images so the sampler can take ∇_{x_t}σ by autograd.

Per image, as the official code does it: bilinear ``F.interpolate`` to 224 × 224 (``align_corners=False``, no
antialias) of the decoded image in whatever range the caller gives (the code feeds the VAE's raw output, about
[-1, 1], to CLIP and SSCD without mapping it to [0, 1]); the retrieval embedding of that, without gradient, queries
the reference index; among the neighbours n₀ maximises the similarity-embedding dot product; σ = f(image)·f(n₀)
with f(n₀) fixed (the code detaches it). f is the similarity embedder's ``embed``: SSCD's TorchScript network
(``SSCDFeatures``, loaded by the sscd extractor's ``load_torchscript``) for real runs, or the pixel correlation of
:class:`PixelCorrelationFeatures` in torch for the pixel-space demo. The embedding is L2-normalised here: SSCD's
networks end in an L2 norm, so for them this is the code's raw dot product (value and gradient).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from bench.methods.amg.reference_index import ReferenceIndex


@dataclass
class SimilarityResult:
    """σ [B] (differentiable in the images), n₀ [B] (reference indices) and the duplicated caption per image."""

    similarity: torch.Tensor
    neighbour: torch.Tensor
    dup_caption: list[str | None]


class Guide(Protocol):
    """What the text sampler calls: decoded images [B, C, H, W] (float, possibly requiring grad) in, σ out."""

    def __call__(self, images: torch.Tensor, neighbours: int, dup_caption_min_count: int) -> SimilarityResult: ...


class ReferenceSimilarity:
    """σ of decoded images against a :class:`ReferenceIndex` (module docstring).

    Args:
        index: the reference set with its retrieval and similarity embedders.
        input_size: side of the bilinear resize before both embedders (224, the official); None keeps the size
            (the pixel-correlation demo compares images at their own size).
    """

    def __init__(self, index: ReferenceIndex, input_size: int | None = 224) -> None:
        if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int)
                                       or input_size < 1):
            raise ValueError(f"ReferenceSimilarity: input_size must be a positive int or None, got {input_size!r}")
        self.index, self.input_size = index, input_size

    def __call__(self, images: torch.Tensor, neighbours: int = 1000,
                 dup_caption_min_count: int = 21) -> SimilarityResult:
        if images.dim() != 4:
            raise ValueError(f"ReferenceSimilarity: images must be [B, C, H, W], got {tuple(images.shape)}")
        x = images.float()
        if self.input_size is not None:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        retrieval, similarity = self.index.retrieval, self.index.similarity
        with torch.no_grad():
            query = F.normalize(retrieval.embed(x.detach().to(retrieval.device)).float(), dim=-1)
        candidates = self.index.query(query, neighbours)
        embedding = F.normalize(similarity.embed(x.to(similarity.device)).float(), dim=-1)
        chosen = [self.index.nearest_by_similarity(embedding[b], candidates[b]) for b in range(len(candidates))]
        captions = [self.index.duplicate_caption(candidates[b], dup_caption_min_count) for b in range(len(candidates))]
        neighbour = torch.tensor(chosen, dtype=torch.long)
        reference = self.index.similarity_embeddings[neighbour].to(embedding.device)
        sigma = (embedding * reference).sum(dim=-1)
        return SimilarityResult(similarity=sigma.to(images.device), neighbour=neighbour, dup_caption=captions)

    def describe(self) -> dict[str, object]:
        return {"input_size": self.input_size, "resize": "F.interpolate bilinear, align_corners=False",
                "similarity": "dot product of L2-normalised embeddings, n0's detached", **self.index.describe()}
