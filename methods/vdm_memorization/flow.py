"""Optical flow between consecutive frames of a video, for OFS-k (re-implementation of the VDM memorization paper).

The paper names no flow network (sheet: "flow network unknown", RAFT proposed), so two back-ends sit behind one
interface: OpenCV's Farneback (no weights, fast) and torchvision's RAFT read from a local weights file (nothing is
downloaded). Both return float32 flow ``[T-1, 2, H, W]`` in pixels, channel 0 the x (column) and channel 1 the y
(row) displacement that carries frame ``t`` onto frame ``t+1``; ``describe()`` is the provenance record.
"""
from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.checkpoint import extract_state_dict, load_checkpoint_file, load_state_strict
from bench.io import sha256_file
from bench.methods.classifier.torchvision_classifier import (
    check_hash_prefix,
    hub_checkpoint_dir,
    weights_entry,
    weights_filename,
)
from bench.suggest import suggest

# The most-trained released weights of each torchvision RAFT variant (torchvision's own DEFAULT).
RAFT_DEFAULT_WEIGHTS = {"raft_large": "C_T_SKHT_V2", "raft_small": "C_T_V2"}
# RAFT's correlation pyramid pools its 1/8-resolution feature maps three times and needs them >= 16 px: inputs
# must be at least 128 px a side (torchvision raises otherwise).
RAFT_MIN_SIDE = 128


def video_frames(video: Any) -> np.ndarray:
    """``video`` (numpy or torch, ``[T, H, W, 3]`` RGB, uint8 or float in [0, 1]) as uint8 ``[T, H, W, 3]``.

    Float frames are rounded to the uint8 grid, so a float video and the uint8 video it came from give the same
    flow; anything else (wrong shape, fewer than 2 frames, floats outside [0, 1]) is a ValueError saying what was
    expected.
    """
    array = video.detach().cpu().numpy() if isinstance(video, torch.Tensor) else np.asarray(video)
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"a video must be [T, H, W, 3] RGB frames (uint8, or float in [0, 1]); got shape "
                         f"{tuple(array.shape)}. Channels-first [T, 3, H, W] tensors need .permute(0, 2, 3, 1).")
    if array.shape[0] < 2:
        raise ValueError(f"optical flow needs at least 2 frames; the video has {array.shape[0]} ([T, H, W, 3] = "
                         f"{tuple(array.shape)})")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"video frames must be uint8 or float in [0, 1]; got dtype {array.dtype}")
    low, high = float(array.min()), float(array.max())
    if not (math.isfinite(low) and math.isfinite(high)) or low < -1e-6 or high > 1 + 1e-6:
        raise ValueError(f"float video frames must lie in [0, 1]; got values in [{low:.4g}, {high:.4g}]. Divide "
                         "uint8 frames by 255 (frames in [-1, 1] need (x + 1) / 2).")
    return np.rint(np.clip(array, 0.0, 1.0) * 255.0).astype(np.uint8)


class FlowEstimator(ABC):
    """Optical flow between consecutive frames: ``estimator(video)`` -> float32 ``[T-1, 2, H, W]`` in pixels (x, y)."""

    @abstractmethod
    def pair_flows(self, frames: np.ndarray) -> np.ndarray:
        """Flow of every consecutive pair of the uint8 ``[T, H, W, 3]`` frames, float32 ``[T-1, 2, H, W]``."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Back-end, its parameters, and the weights file with its sha256 (None for weight-free back-ends)."""

    def __call__(self, video: Any) -> np.ndarray:
        frames = video_frames(video)
        return self.pair_flows(frames)


class FarnebackFlow(FlowEstimator):
    """OpenCV's ``calcOpticalFlowFarneback`` on grey frames (``cv2.COLOR_RGB2GRAY``); no weights.

    Args:
        pyr_scale: image scale between pyramid levels (< 1).
        levels: number of pyramid levels, the original image included.
        winsize: averaging window; larger is more robust to noise and blurrier.
        iterations: iterations per pyramid level.
        poly_n: neighbourhood of the per-pixel polynomial expansion (5 or 7).
        poly_sigma: Gaussian sigma of that expansion (1.1 for poly_n 5, 1.5 for 7 in OpenCV's docs).
        gaussian: a Gaussian instead of a box window (``OPTFLOW_FARNEBACK_GAUSSIAN``).
    The defaults are the values OpenCV's documentation and samples use (no value comes from the paper).
    """

    def __init__(self, pyr_scale: float = 0.5, levels: int = 3, winsize: int = 15, iterations: int = 3,
                 poly_n: int = 5, poly_sigma: float = 1.2, gaussian: bool = False) -> None:
        if not 0 < pyr_scale < 1:
            raise ValueError(f"FarnebackFlow: pyr_scale must be in (0, 1) (each level smaller); got {pyr_scale}")
        for name, value in (("levels", levels), ("winsize", winsize), ("iterations", iterations),
                            ("poly_n", poly_n)):
            if int(value) != value or value < 1:
                raise ValueError(f"FarnebackFlow: {name} must be a positive integer; got {value!r}")
        self.pyr_scale, self.levels, self.winsize = float(pyr_scale), int(levels), int(winsize)
        self.iterations, self.poly_n = int(iterations), int(poly_n)
        self.poly_sigma, self.gaussian = float(poly_sigma), bool(gaussian)

    def pair_flows(self, frames: np.ndarray) -> np.ndarray:
        import cv2

        grey = [cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY) for frame in frames]
        flags = cv2.OPTFLOW_FARNEBACK_GAUSSIAN if self.gaussian else 0
        # a fresh output array per pair (read only with OPTFLOW_USE_INITIAL_FLOW, which is never set)
        flows = [cv2.calcOpticalFlowFarneback(a, b, np.zeros((*a.shape, 2), np.float32), self.pyr_scale,
                                              self.levels, self.winsize, self.iterations, self.poly_n,
                                              self.poly_sigma, flags)
                 for a, b in zip(grey[:-1], grey[1:], strict=True)]
        return np.ascontiguousarray(np.stack(flows).transpose(0, 3, 1, 2), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        import cv2

        return {"backend": "farneback", "opencv": cv2.__version__, "grey": "cv2.COLOR_RGB2GRAY",
                "pyr_scale": self.pyr_scale, "levels": self.levels, "winsize": self.winsize,
                "iterations": self.iterations, "poly_n": self.poly_n, "poly_sigma": self.poly_sigma,
                "gaussian": self.gaussian, "weights_file": None, "sha256": None}


def raft_weights_path(model: str, weights: str, weights_file: str | Path | None,
                      checkpoint_dir: str | Path | None) -> Path:
    """The local RAFT weights file: ``weights_file`` if given, else torchvision's file name for ``weights``
    (``raft_large_C_T_SKHT_V2-ff5fadd5.pth``) in ``checkpoint_dir`` (default: torch hub's checkpoint folder).

    A missing file is a FileNotFoundError naming it, torchvision's URL for it and where to put it; a file whose
    name carries a torchvision hash prefix must match it (``WeightsHashError`` otherwise).
    """
    url = weights_entry(model, weights).url
    if weights_file is not None:
        path = Path(weights_file)
        where = f"copy it to {path}"
    else:
        path = Path(checkpoint_dir if checkpoint_dir is not None else hub_checkpoint_dir()) / weights_filename(
            model, weights)
        where = (f"copy it to {path} (torch hub's checkpoint folder, which follows $TORCH_HOME) or pass "
                 "checkpoint_dir= / weights_file=")
    if not path.is_file():
        raise FileNotFoundError(f"RAFT weights file not found: {path} ({model}, weights {weights}). Nothing is "
                                f"downloaded here: fetch torchvision's {url} on a machine with network access and "
                                f"{where}.")
    check_hash_prefix(path)
    return path


class RAFTFlow(FlowEstimator):
    """torchvision's RAFT (``raft_large`` / ``raft_small``), built without weights and loaded from a local file.

    Args:
        model: ``"raft_large"`` or ``"raft_small"``.
        weights: torchvision's weights tag, naming the file (default: the variant's most-trained release,
            ``C_T_SKHT_V2`` for raft_large, ``C_T_V2`` for raft_small).
        weights_file: a state-dict file to load instead of the named release (any name; e.g. a re-saved file).
        checkpoint_dir: where the named release lies (default: torch hub's checkpoint folder).
        num_flow_updates: RAFT's recurrent refinement steps (torchvision's default 12).
        batch_size: frame pairs per forward pass (memory only; the flow does not depend on it).
        device: ``"cpu"``, ``"cuda"``, ...
    Frames are scaled to [-1, 1] as torchvision's ``OpticalFlow`` transforms do. Sizes that are not multiples of 8
    are padded (edge replicate, split evenly as RAFT's ``InputPadder``) and the flow cropped back; frames smaller
    than 128 px a side (RAFT's correlation pyramid refuses them) are first upsampled bilinearly to 128 px on the
    shorter side and the flow is resized back with its vectors scaled by the size ratio.
    """

    def __init__(self, model: str = "raft_large", weights: str | None = None,
                 weights_file: str | Path | None = None, checkpoint_dir: str | Path | None = None,
                 num_flow_updates: int = 12, batch_size: int = 8, device: str | torch.device = "cpu") -> None:
        from torchvision.models import optical_flow

        if model not in RAFT_DEFAULT_WEIGHTS:
            raise ValueError(f"RAFTFlow: unknown model {model!r}; expected one of {sorted(RAFT_DEFAULT_WEIGHTS)}."
                             f"{suggest(model, list(RAFT_DEFAULT_WEIGHTS))}")
        if int(num_flow_updates) != num_flow_updates or num_flow_updates < 1:
            raise ValueError(f"RAFTFlow: num_flow_updates must be a positive integer; got {num_flow_updates!r}")
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"RAFTFlow: batch_size must be a positive integer; got {batch_size!r}")
        self.model_name, self.weights = model, weights or RAFT_DEFAULT_WEIGHTS[model]
        self.num_flow_updates, self.batch_size = int(num_flow_updates), int(batch_size)
        self.device = torch.device(device)
        self.weights_file = raft_weights_path(model, self.weights, weights_file, checkpoint_dir)
        net = getattr(optical_flow, model)(weights=None)
        state = extract_state_dict(load_checkpoint_file(self.weights_file), path=self.weights_file)
        load_state_strict(net, state, self.weights_file,
                          hint=f"The file must be a {model} state dict; raft_large and raft_small files are not "
                               "interchangeable, so set model= to the variant the file was saved from.")
        self.net = net.eval().to(self.device)
        self.sha256 = sha256_file(self.weights_file)

    def pair_flows(self, frames: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div(255.0).mul(2.0).sub(1.0)
        height, width = x.shape[-2:]
        scale = max(1.0, RAFT_MIN_SIDE / min(height, width))
        size = (max(RAFT_MIN_SIDE, round(height * scale)), max(RAFT_MIN_SIDE, round(width * scale)))
        if size != (height, width):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        pad_h, pad_w = -size[0] % 8, -size[1] % 8
        padding = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)  # left, right, top, bottom
        x = F.pad(x, padding, mode="replicate")
        out = []
        with torch.inference_mode():
            for start in range(0, x.shape[0] - 1, self.batch_size):
                stop = min(start + self.batch_size, x.shape[0] - 1)
                first = x[start:stop].to(self.device)
                second = x[start + 1:stop + 1].to(self.device)
                flow = self.net(first, second, num_flow_updates=self.num_flow_updates)[-1].float()
                out.append(flow[..., padding[2]:padding[2] + size[0], padding[0]:padding[0] + size[1]].cpu())
        flows = torch.cat(out)
        if size != (height, width):
            flows = F.interpolate(flows, size=(height, width), mode="bilinear", align_corners=False)
            flows = flows * torch.tensor([width / size[1], height / size[0]]).view(1, 2, 1, 1)
        return np.ascontiguousarray(flows.numpy(), dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        return {"backend": "raft", "model": self.model_name, "weights": self.weights,
                "weights_file": str(self.weights_file), "sha256": self.sha256,
                "num_flow_updates": self.num_flow_updates, "normalisation": "[-1, 1] (x / 127.5 - 1)",
                "padding": "replicate to multiples of 8, split evenly; flow cropped back",
                "min_side": RAFT_MIN_SIDE, "upsampling": "bilinear to min_side on the shorter side when smaller",
                "device": str(self.device)}


FLOW_BACKENDS: dict[str, type[FlowEstimator]] = {"farneback": FarnebackFlow, "raft": RAFTFlow}


def build_flow_estimator(backend: str, **options: Any) -> FlowEstimator:
    """The flow back-end named ``backend`` (``"farneback"`` or ``"raft"``) built with ``options``."""
    if backend not in FLOW_BACKENDS:
        raise ValueError(f"unknown optical flow backend {backend!r}; expected one of {sorted(FLOW_BACKENDS)}."
                         f"{suggest(backend, list(FLOW_BACKENDS))}")
    cls = FLOW_BACKENDS[backend]
    known = [name for name in inspect.signature(cls).parameters if name != "self"]
    for key in options:
        if key not in known:
            raise ValueError(f"optical flow backend {backend!r} has no option {key!r}; its options are "
                             f"{', '.join(known)}.{suggest(key, known)}")
    return cls(**options)
