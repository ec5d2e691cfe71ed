"""VBench motion smoothness: how well a frame interpolator predicts the frames a video drops
(``vbench/motion_smoothness.py``).

Per video with frames f_0 ... f_{F-1} (uint8): keep the even frames f_0, f_2, ...; interpolate the middle
(``t = 1/2``) of each consecutive pair, giving predictions p_1, p_3, ... of the odd frames (one fewer than the even
frames; with F even the last odd frame has none); ``score = (255 - mean_k mean|f_{2k+1} - p_{2k+1}|) / 255``, the
mean absolute difference over all pixels and channels (``cv2.absdiff``). VBench's interpolator is AMT-S
(``amt-s.pth``), its predictions converted to uint8 by truncation (AMT's ``tensor2img``: ``(x * 255).clip(0, 255)
.astype(uint8)``).

AMT-S is :class:`~.amt.AMTS`, written for VBench's ``amt-s.pth`` (checked bit-exact against VBench's own
``third_party/amt`` code on the CPU: the same 213 state-dict entries, the same middle frames), run as VBench's
``motion_score`` runs it (:func:`~.amt.interpolate_middle`: padding to a multiple of 16 / scale, the VRAM-dependent
scale on CUDA, ``embt = 1/2``). Frames need at least 128 px per side (its correlation pyramid). ``interpolator=
"linear"`` predicts the average of the two frames instead: the same formula with a trivial interpolator, for toys and
tests, labelled as not VBench's.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import torch

from bench.registry import VIDEO_SCORERS
from bench.tasks.generation.video_scorers.base import VideoScorer, as_video, vbench_weight, weight_facts

INTERPOLATORS = ("amt-s", "linear")
Interpolator = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def to_uint8_truncated(frame: torch.Tensor) -> torch.Tensor:
    """A float frame in [0, 1] as uint8 the way AMT's ``tensor2img`` converts: ``(x * 255).clip(0, 255)`` truncated."""
    return (frame.float() * 255.0).clamp(0, 255).to(torch.uint8)


def linear_interpolator(frame0: torch.Tensor, frame1: torch.Tensor) -> torch.Tensor:
    """The middle frame as the average of the two (uint8 [H, W, 3] in, uint8 out, via AMT's float [0, 1] round trip
    and truncation)."""
    middle = (frame0.float() / 255.0 + frame1.float() / 255.0) / 2
    return to_uint8_truncated(middle)


def motion_smoothness(frames: torch.Tensor, interpolate: Interpolator) -> float:
    """The score of one video uint8 [F, H, W, 3] (F >= 3) under ``interpolate(frame0, frame1) -> uint8 middle``."""
    if frames.dtype != torch.uint8 or frames.ndim != 4 or len(frames) < 3:
        raise ValueError(f"motion smoothness needs uint8 frames [F, H, W, 3] with F >= 3 (two kept frames), got "
                         f"{frames.dtype} {tuple(frames.shape)}")
    kept, dropped = frames[0::2], frames[1::2]
    diffs = []
    for k in range(len(kept) - 1):
        predicted = interpolate(kept[k], kept[k + 1])
        if predicted.shape != dropped[k].shape or predicted.dtype != torch.uint8:
            raise ValueError(f"the interpolator returned {predicted.dtype} {tuple(predicted.shape)}, expected uint8 "
                             f"{tuple(dropped[k].shape)}")
        diffs.append((dropped[k].double() - predicted.double()).abs().mean())
    return float((255.0 - torch.stack(diffs).mean()) / 255.0)


@VIDEO_SCORERS.register_module()
class MotionSmoothness(VideoScorer):
    """Motion smoothness of a video (module docstring).

    Args:
        interpolator: ``"amt-s"`` (VBench's) or ``"linear"`` (frame average; not VBench's).
        weights: AMT-S's ``amt-s.pth``; None looks under VBench's cache folder (``amt_model/``).
        cache_dir: VBench's cache folder instead of ``$VBENCH_CACHE_DIR`` / ``~/.cache/vbench``.
    """

    def __init__(self, interpolator: str = "amt-s", weights: str | None = None, cache_dir: str | None = None) -> None:
        if interpolator not in INTERPOLATORS:
            raise ValueError(f"MotionSmoothness: interpolator must be one of {INTERPOLATORS}, got {interpolator!r}")
        self.interpolator = interpolator
        self.model: Any = None
        self.facts: dict[str, str] = {}
        if interpolator == "amt-s":
            from bench.tasks.generation.video_scorers.amt import AMTS

            path = vbench_weight("amt_s", weights, cache_dir, "MotionSmoothness")
            try:
                checkpoint = torch.load(path, map_location="cpu", weights_only=True)
                self.model = AMTS()
                self.model.load_state_dict(checkpoint["state_dict"], strict=True)
            except Exception as error:  # noqa: BLE001 - unpickling and load_state_dict raise many types
                raise ValueError(f"MotionSmoothness: {str(path)!r} is not AMT-S's checkpoint (a dict whose "
                                 f"'state_dict' holds the 213 entries of AMT-S; {type(error).__name__}: "
                                 f"{str(error)[:300]})") from error
            self.model.eval()
            self.facts = weight_facts(Path(path))

    def to(self, device: torch.device | str) -> MotionSmoothness:
        if self.model is not None:
            self.model.to(torch.device(device))
        return self

    def _interpolate(self) -> Interpolator:
        if self.model is None:
            return linear_interpolator
        from bench.tasks.generation.video_scorers.amt import interpolate_middle

        return partial(interpolate_middle, self.model)

    def __call__(self, video: torch.Tensor) -> float:
        return motion_smoothness(as_video(video, "MotionSmoothness"), self._interpolate())

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "dimension": "motion_smoothness", "interpolator": self.interpolator,
            "protocol": "VBench motion_smoothness.py: (255 - mean |odd frame - interpolated|) / 255 over the even "
                        "frames' midpoints", "label": "VBench (AMT-S)" if self.model is not None else
            "not VBench's: frame-average interpolator instead of AMT-S"}
        if self.facts:
            facts["weights"] = self.facts
        return facts
