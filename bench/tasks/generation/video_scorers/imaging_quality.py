"""VBench imaging quality: MUSIQ trained on SPAQ scores every frame; the video's score is the mean over its frames,
divided by 100 (``vbench/imaging_quality.py``; VBench divides the mean over videos by 100, the same number).

Preprocessing (VBench's default ``imaging_quality_preprocessing_mode="longer"``), on the frames as its
``load_video`` returns them (float32 in [0, 255]): when the longer side exceeds 512, torchvision ``Resize((int(s·H),
int(s·W)), antialias=False)`` (bilinear) with s = 512 / max(H, W); then ``/ 255``. ``"shorter"`` scales the shorter
side to 512 when it exceeds 512, ``"shorter_centercrop"`` then crops 512², ``"None"`` only divides.

The network is :class:`~.musiq.MUSIQ`, written for ``musiq_spaq_ckpt-358bb6af.pth`` as pyiqa's
``MUSIQ(pretrained_model_path=...)`` (what VBench imports) builds it: the same 248 state-dict entries and the same
scores as pyiqa 0.1.16 (checked equal on the CPU; pyiqa itself is not in the lock: it pulls accelerate,
bitsandbytes, facexlib, datasets, ...). ``model`` takes any frame network with MUSIQ's interface (tests).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.registry import VIDEO_SCORERS
from bench.tasks.generation.video_scorers.base import VideoScorer, as_video, vbench_weight, weight_facts

MODES = ("longer", "shorter", "shorter_centercrop", "None")
LIMIT = 512


def imaging_transform(frames: torch.Tensor, mode: str = "longer") -> torch.Tensor:
    """uint8 frames [F, H, W, 3] -> float32 [F, 3, h, w] in [0, 1] by VBench's ``transform(images, mode)``."""
    import torchvision.transforms.functional as TF

    if mode not in MODES:
        raise ValueError(f"imaging quality preprocessing must be one of {MODES}, got {mode!r}")
    x = frames.permute(0, 3, 1, 2).float()
    h, w = x.shape[-2:]
    side = max(h, w) if mode == "longer" else min(h, w)
    if mode != "None" and side > LIMIT:
        scale = LIMIT / side
        x = TF.resize(x, [int(scale * h), int(scale * w)], antialias=False)
        if mode == "shorter_centercrop":
            x = TF.center_crop(x, [LIMIT, LIMIT])
    return x / 255.0


def imaging_quality(frame_scores: torch.Tensor) -> float:
    """The score of one video from its frames' MUSIQ scores (0-100): their mean / 100."""
    if frame_scores.ndim != 1 or len(frame_scores) < 1:
        raise ValueError(f"imaging quality needs one score per frame [F], got {tuple(frame_scores.shape)}")
    return float(frame_scores.double().mean() / 100.0)


def load_musiq(path: Path) -> torch.nn.Module:
    """MUSIQ with the SPAQ weights (a state dict, ``module.`` prefixes stripped as pyiqa's ``clean_state_dict``)."""
    from bench.tasks.generation.video_scorers.musiq import MUSIQ

    model = MUSIQ()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()}, strict=True)
    except Exception as error:  # noqa: BLE001 - unpickling and load_state_dict raise many types
        raise ValueError(f"ImagingQuality: {str(path)!r} is not MUSIQ's SPAQ checkpoint (a state dict of the 248 "
                         f"entries of pyiqa's MUSIQ; {type(error).__name__}: {str(error)[:300]})") from error
    return model.eval()


@VIDEO_SCORERS.register_module()
class ImagingQuality(VideoScorer):
    """Imaging quality of a video (module docstring).

    Args:
        weights: MUSIQ-SPAQ's ``musiq_spaq_ckpt-358bb6af.pth``; None looks under VBench's cache (``pyiqa_model/``).
        cache_dir: VBench's cache folder instead of ``$VBENCH_CACHE_DIR`` / ``~/.cache/vbench``.
        preprocessing: one of :data:`MODES` (VBench's default ``"longer"``).
        model: a frame network taking [1, 3, h, w] in [0, 1] and returning its 0-100 score, instead of MUSIQ
            (tests; not from configs); ``weights`` is then only recorded.
    """

    def __init__(self, weights: str | None = None, cache_dir: str | None = None, preprocessing: str = "longer",
                 model: torch.nn.Module | None = None) -> None:
        if preprocessing not in MODES:
            raise ValueError(f"ImagingQuality: preprocessing must be one of {MODES}, got {preprocessing!r}")
        self.preprocessing = preprocessing
        self.path = vbench_weight("musiq_spaq", weights, cache_dir, "ImagingQuality")
        self.model = load_musiq(self.path) if model is None else model
        self.network = "MUSIQ (SPAQ)" if model is None else type(model).__name__
        self.facts = weight_facts(Path(self.path))
        self.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> ImagingQuality:
        self.device = torch.device(device)
        self.model = self.model.to(self.device)
        return self

    def __call__(self, video: torch.Tensor) -> float:
        frames = imaging_transform(as_video(video, "ImagingQuality"), self.preprocessing)
        with torch.no_grad():  # VBench scores one frame at a time
            scores = torch.stack([torch.as_tensor(self.model(frame[None].to(self.device))).float().reshape(())
                                  for frame in frames])
        return imaging_quality(scores.cpu())

    def describe(self) -> dict[str, Any]:
        return {"dimension": "imaging_quality", "network": self.network, "weights": self.facts,
                "preprocessing": self.preprocessing,
                "protocol": "VBench imaging_quality.py: MUSIQ score per frame (one at a time), mean over frames / 100",
                "label": "VBench (MUSIQ-SPAQ)" if self.network == "MUSIQ (SPAQ)" else
                f"not VBench's network: {self.network}"}
