"""The interface of a per-video scorer (one float per generated video), the frame-array check and where VBench keeps
its weights.

A scorer is built from a ``bench.registry.VIDEO_SCORERS`` spec by the video generation task
(:mod:`bench.tasks.generation.video`), moved with ``.to(device)`` on the generating rank, and called on one video
at a time: ``scorer(video) -> float`` with ``video`` uint8 [F, H, W, 3] (RGB). ``score_batch`` scores a batch of
videos [B, F, H, W, 3] (one call each by default; a scorer may batch). ``describe`` names the network, its weight
files and their sha256 and the protocol, for the run's results.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.io import sha256_file


class ScorerUnavailableError(ValueError):
    """A scorer whose network code is not available here (not its weights: a missing file is FileNotFoundError);
    the message says what is missing. The video task reports its dimension as not configured with
    ``on_unavailable="skip"``."""


class VideoScorer:
    """One float per video (module docstring). Subclasses implement :meth:`__call__` and :meth:`describe`."""

    def to(self, device: torch.device | str) -> VideoScorer:
        return self

    def __call__(self, video: torch.Tensor) -> float:
        raise NotImplementedError

    def score_batch(self, videos: torch.Tensor | np.ndarray) -> torch.Tensor:
        """float64 [B]: each video of uint8 [B, F, H, W, 3] scored on its own."""
        batch = as_videos(videos)
        return torch.tensor([float(self(video)) for video in batch], dtype=torch.float64)

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError


def as_video(video: Any, who: str = "video scorer") -> torch.Tensor:
    """``video`` (torch or numpy) as a CPU uint8 tensor [F, H, W, 3]; a clear error for anything else."""
    tensor = torch.from_numpy(np.asarray(video)) if not isinstance(video, torch.Tensor) else video
    if tensor.dtype != torch.uint8 or tensor.ndim != 4 or tensor.shape[-1] != 3 or min(tensor.shape[:3]) < 1:
        raise ValueError(f"{who}: a video must be RGB uint8 [F, H, W, 3] with F, H, W >= 1, got {tensor.dtype} "
                         f"{tuple(tensor.shape)}")
    return tensor.detach().cpu()


def as_videos(videos: Any, who: str = "video scorer") -> torch.Tensor:
    """A batch of videos (torch or numpy) as a CPU uint8 tensor [B, F, H, W, 3]."""
    tensor = torch.from_numpy(np.asarray(videos)) if not isinstance(videos, torch.Tensor) else videos
    if tensor.ndim != 5:
        raise ValueError(f"{who}: videos must be uint8 [B, F, H, W, 3], got {tensor.dtype} {tuple(tensor.shape)}")
    for video in tensor:
        as_video(video, who)
    return tensor.detach().cpu()


#: VBench's weight files under its cache folder (``vbench/utils.py`` ``init_submodules``) and where they come from
VBENCH_WEIGHTS = {
    "dino": ("dino_model/dino_vitbase16_pretrain.pth",
             "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth"),
    "amt_s": ("amt_model/amt-s.pth", "https://huggingface.co/lalala125/AMT/resolve/main/amt-s.pth"),
    "clip_vit_l14": ("clip_model/ViT-L-14.pt",
                     "https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2"
                     "e0eca1737a03836/ViT-L-14.pt"),
    "laion_aesthetic": ("aesthetic_model/emb_reader/sa_0_4_vit_l_14_linear.pth",
                        "https://raw.githubusercontent.com/LAION-AI/aesthetic-predictor/main/sa_0_4_vit_l_14_linear.pth"),
    "musiq_spaq": ("pyiqa_model/musiq_spaq_ckpt-358bb6af.pth",
                   "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/"
                   "musiq_spaq_ckpt-358bb6af.pth"),
}


def vbench_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """VBench's weight folder: ``cache_dir`` when given, else ``$VBENCH_CACHE_DIR``, else ``~/.cache/vbench`` (as
    ``vbench/utils.py`` picks it)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return Path(os.environ.get("VBENCH_CACHE_DIR") or Path.home() / ".cache" / "vbench")


def vbench_weight(key: str, path: str | Path | None, cache_dir: str | Path | None, who: str) -> Path:
    """The local file of VBench weight ``key``: ``path`` when given, else its place under the cache folder; a
    FileNotFoundError naming the expected path and the official download otherwise (nothing is downloaded here)."""
    relative, url = VBENCH_WEIGHTS[key]
    found = Path(path).expanduser() if path is not None else vbench_cache_dir(cache_dir) / relative
    if not found.is_file():
        raise FileNotFoundError(f"{who}: weight file {str(found)!r} not found. Expected VBench's "
                                f"{Path(relative).name} (from {url}), placed at <cache>/{relative} with <cache> = "
                                "$VBENCH_CACHE_DIR or ~/.cache/vbench, or given as this scorer's weights argument; "
                                "nothing is downloaded here")
    return found


def weight_facts(path: Path) -> dict[str, str]:
    """The file and its sha256, for ``describe``."""
    return {"file": str(path), "sha256": sha256_file(path)}
