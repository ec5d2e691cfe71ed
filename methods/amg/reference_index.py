"""AMG's reference set for the text-conditional branch, local: a folder of images with captions, their retrieval and
similarity embeddings, and an exact FAISS kNN, in place of the LAION-5B clip-retrieval service AMG-sd queried
(``knn.laion.ai``, index ``laion5B-L-14``; closed since 2024, LAION-5B withdrawn in Dec 2023).

What the official ``cond_fn`` does with the service and what is kept here:

- a CLIP ViT-L/14 image embedding of x̂₀ queries 1000 neighbours (:meth:`ReferenceIndex.query`; the retrieval
  embedder is any :class:`UnitNormEmbedder`: ``CLIPScoreFeatures`` with ``variant="amg"`` for real runs);
- among them n₀ is the image with the highest SSCD dot product with SSCD(x̂₀)
  (:meth:`ReferenceIndex.nearest_by_similarity`; the similarity embedder: ``SSCDFeatures`` with the ``amg`` preset);
- the most common caption among the neighbours is the duplicated caption when it occurs more than 20 times
  (:meth:`ReferenceIndex.duplicate_caption`). The official code takes captions from a second, non-deduplicated
  1000-NN query and images from a deduplicated one; a local folder has one set of neighbours for both.

Every result computed against this index is a **proxy-reference** row: its reference set is not LAION-5B
(``describe()["reference"] == "proxy"``). The embeddings are cached under ``cache_dir`` keyed by a content hash of
the files, captions and both embedders, so a changed folder or embedder rebuilds and an unchanged one is reused.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.datasets.memorization import captioned_image_files, load_rgb
from bench.io import atomic_torch_save, sha256_file, sha256_json
from bench.tasks.generation.extractors.base import UnitNormEmbedder

CACHE_VERSION = 1


class ReferenceIndex:
    """Images of a local folder with unit-norm retrieval and similarity embeddings and captions, and an exact
    inner-product kNN over the retrieval embeddings (FAISS ``IndexFlatIP``).

    Args:
        folder: the image folder (``bench.datasets.memorization.CAPTIONED_FOLDER_LAYOUT``).
        retrieval: embedder of the kNN query side (CLIP ViT-L/14 ``amg`` for real runs).
        similarity: embedder of σ (SSCD ``amg`` preset for real runs).
        cache_dir: where the embeddings are cached (``amg_reference_<hash>.pt``); None: no cache.
        batch_size: images read and embedded at a time.
    """

    def __init__(self, folder: str | Path, retrieval: UnitNormEmbedder, similarity: UnitNormEmbedder,
                 cache_dir: str | Path | None = None, batch_size: int = 64) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"ReferenceIndex: batch_size must be a positive integer, got {batch_size!r}")
        self.folder = Path(folder).expanduser()
        self.retrieval, self.similarity = retrieval, similarity
        entries = captioned_image_files(self.folder, what="AMG reference index")
        self.keys = [key for key, _, _ in entries]
        self.captions: list[str | None] = [caption for _, _, caption in entries]
        self.hash = sha256_json({
            "version": CACHE_VERSION,
            "files": [[key, sha256_file(path), caption] for key, path, caption in entries],
            "retrieval": retrieval.describe(), "similarity": similarity.describe()})
        self.cache_path = (Path(cache_dir).expanduser() / f"amg_reference_{self.hash[:16]}.pt"
                           if cache_dir is not None else None)
        self.from_cache = False
        cached = self._read_cache()
        if cached is not None:
            self.retrieval_embeddings, self.similarity_embeddings = cached
            self.from_cache = True
        else:
            self.retrieval_embeddings, self.similarity_embeddings = self._embed([p for _, p, _ in entries],
                                                                                batch_size)
            if self.cache_path is not None:
                atomic_torch_save(self.cache_path, {
                    "hash": self.hash, "keys": self.keys, "retrieval": self.retrieval_embeddings,
                    "similarity": self.similarity_embeddings})
        self._faiss: Any = None

    def _read_cache(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.cache_path is None or not self.cache_path.is_file():
            return None
        stored = torch.load(self.cache_path, map_location="cpu", weights_only=True)
        if stored.get("hash") != self.hash or stored.get("keys") != self.keys:
            return None  # a hash-prefix collision or a foreign file: rebuild (and overwrite it)
        return stored["retrieval"], stored["similarity"]

    def _embed(self, paths: Sequence[Path], batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        retrieval, similarity = [], []
        for start in range(0, len(paths), batch_size):
            images = [load_rgb(path) for path in paths[start:start + batch_size]]
            retrieval.append(self.retrieval(images)["pool"].float().cpu())
            similarity.append(self.similarity(images)["pool"].float().cpu())
        return torch.cat(retrieval).contiguous(), torch.cat(similarity).contiguous()

    def __len__(self) -> int:
        return len(self.keys)

    def _index(self) -> Any:
        if self._faiss is None:
            try:
                import faiss
            except ImportError as error:
                raise ImportError("AMG's reference index needs faiss (pip install 'bench[memorization]')") from error
            self._faiss = faiss.IndexFlatIP(self.retrieval_embeddings.shape[1])
            self._faiss.add(self.retrieval_embeddings.numpy().astype(np.float32))
        return self._faiss

    def query(self, embeddings: torch.Tensor, k: int) -> torch.Tensor:
        """Indices [B, min(k, size)] of the reference images with the largest inner product with each query
        embedding [B, D] (unit norm: cosine), best first."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"ReferenceIndex.query: k must be a positive integer, got {k!r}")
        dim = self.retrieval_embeddings.shape[1]
        if embeddings.dim() != 2 or embeddings.shape[1] != dim:
            raise ValueError(f"ReferenceIndex.query: embeddings must be [B, {dim}] (the retrieval embedder's "
                             f"dimension), got {tuple(embeddings.shape)}")
        queries = np.ascontiguousarray(embeddings.detach().float().cpu().numpy())
        _, found = self._index().search(queries, min(k, len(self)))
        return torch.from_numpy(found).long()

    def nearest_by_similarity(self, sim_embedding: torch.Tensor, candidates: torch.Tensor) -> int:
        """The candidate (a reference index) whose similarity embedding has the largest dot product with
        ``sim_embedding`` [D]: the official n₀ (``argmax(SSCD(neighbours) · SSCD(x̂₀))``)."""
        pool = self.similarity_embeddings[candidates.long().cpu()]
        scores = pool @ sim_embedding.detach().float().cpu()
        return int(candidates[int(scores.argmax())])

    def duplicate_caption(self, candidates: torch.Tensor, min_count: int = 21) -> str | None:
        """The most common caption among ``candidates`` if it occurs at least ``min_count`` times (the official
        ``> 20``), else None; ties go to the caption met first in kNN order (``Counter.most_common``). Images without
        a caption are not counted."""
        counts = Counter(c for c in (self.captions[int(i)] for i in candidates) if c is not None)
        if not counts:
            return None
        caption, count = counts.most_common(1)[0]
        return caption if count >= min_count else None

    def describe(self) -> dict[str, Any]:
        """Size, content hash, folder, embedders, and the proxy label every result using the index carries."""
        import importlib.metadata

        try:
            faiss_version = importlib.metadata.version("faiss-cpu")
        except importlib.metadata.PackageNotFoundError:
            faiss_version = "unknown"
        return {
            "reference": "proxy",
            "replaces": "LAION-5B clip-retrieval kNN (laion5B-L-14, 1000 neighbours; service closed)",
            "folder": str(self.folder), "size": len(self), "hash": self.hash,
            "captioned": sum(c is not None for c in self.captions),
            "retrieval": self.retrieval.describe(), "similarity": self.similarity.describe(),
            "knn": f"faiss IndexFlatIP (exact inner product), faiss-cpu {faiss_version}",
        }
