"""VBench aesthetic quality: the LAION aesthetic predictor (a linear head on L2-normalised CLIP ViT-L/14 image
embeddings) of every frame, divided by 10 and averaged over the frames (``vbench/aesthetic_quality.py``).

Preprocessing is VBench's ``clip_transform(224)`` on the frames as its ``load_video`` returns them (``torch.Tensor
(frames)``: float32 in [0, 255], not uint8, so nothing is rounded or clamped after the resize): torchvision
``Resize(224, bicubic, antialias=False)`` of the shorter side, ``CenterCrop(224)``, ``/ 255``, CLIP mean/std. The CLIP
model is OpenAI's ``ViT-L-14.pt`` read by open_clip's ``load_openai_model`` (the TorchScript archive or a plain state
dict; the architecture comes from the weights), in the precision ``clip.load`` gives it: fp16 on CUDA, fp32 on the CPU.
The embeddings go to float32, are normalised, and the head ``sa_0_4_vit_l_14_linear.pth`` (``nn.Linear(768, 1)``) scores
them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.registry import VIDEO_SCORERS
from bench.tasks.generation.extractors.preprocessing import CLIP_MEAN, CLIP_STD
from bench.tasks.generation.video_scorers.base import VideoScorer, as_video, vbench_weight, weight_facts

PRECISIONS = ("auto", "fp32")


def vbench_clip_transform(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """uint8 frames [F, H, W, 3] -> float32 [F, 3, size, size] as VBench's ``clip_transform(size)``."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    x = TF.resize(frames.permute(0, 3, 1, 2).float(), size, interpolation=InterpolationMode.BICUBIC,
                  antialias=False)
    x = TF.center_crop(x, [size, size]).float().div(255.0)
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - mean) / std


def aesthetic_quality(embeddings: torch.Tensor, head: torch.nn.Module) -> float:
    """The score of one video from its frames' CLIP image embeddings [F, D]: mean of head(normalised) / 10."""
    if embeddings.ndim != 2 or len(embeddings) < 1:
        raise ValueError(f"aesthetic quality needs frame embeddings [F, D], got {tuple(embeddings.shape)}")
    with torch.no_grad():
        normalised = torch.nn.functional.normalize(embeddings.float(), dim=-1, p=2)
        scores = head(normalised).squeeze(dim=-1)
        return float((scores / 10).mean())


@VIDEO_SCORERS.register_module()
class AestheticQuality(VideoScorer):
    """Aesthetic quality of a video (module docstring).

    Args:
        clip_weights: OpenAI's ``ViT-L-14.pt``; None looks under VBench's cache (``clip_model/ViT-L-14.pt``).
        head_weights: LAION's ``sa_0_4_vit_l_14_linear.pth``; None looks under VBench's cache
            (``aesthetic_model/emb_reader/``).
        cache_dir: VBench's cache folder instead of ``$VBENCH_CACHE_DIR`` / ``~/.cache/vbench``.
        precision: ``"auto"`` (``clip.load``'s: fp16 on CUDA, fp32 on CPU) or ``"fp32"``.
        batch_size: frames per CLIP forward pass (VBench: 32).
    """

    def __init__(self, clip_weights: str | None = None, head_weights: str | None = None,
                 cache_dir: str | None = None, precision: str = "auto", batch_size: int = 32) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"AestheticQuality: precision must be one of {PRECISIONS}, got {precision!r}")
        try:
            import open_clip
        except ImportError as error:
            raise ImportError("AestheticQuality needs open_clip (pip install 'bench[openvocab]')") from error
        self.open_clip = open_clip
        self.clip_path = vbench_weight("clip_vit_l14", clip_weights, cache_dir, "AestheticQuality")
        self.head_path = vbench_weight("laion_aesthetic", head_weights, cache_dir, "AestheticQuality")
        self.precision, self.batch_size = precision, int(batch_size)
        self.clip = self._load_clip("fp32", "cpu")
        state = torch.load(self.head_path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or set(state) != {"weight", "bias"} or state["weight"].ndim != 2 \
                or state["weight"].shape[0] != 1:
            raise ValueError(f"AestheticQuality: {str(self.head_path)!r} is not the LAION linear head (a state dict "
                             f"of nn.Linear(D, 1): weight [1, D], bias [1]); got keys {sorted(state)}")
        self.head = torch.nn.Linear(state["weight"].shape[1], 1)
        self.head.load_state_dict(state)
        self.head.eval()
        width = int(self.clip.visual.output_dim)
        if width != self.head.in_features:
            raise ValueError(f"AestheticQuality: the head takes {self.head.in_features}-d embeddings but the CLIP "
                             f"model {str(self.clip_path)!r} gives {width}-d (ViT-L/14: 768)")
        self.facts = {"clip": weight_facts(Path(self.clip_path)), "head": weight_facts(Path(self.head_path))}
        self.device = torch.device("cpu")

    def _load_clip(self, precision: str, device: str | torch.device) -> Any:
        try:
            model = self.open_clip.load_openai_model(str(self.clip_path), precision=precision, device=device)
        except Exception as error:  # noqa: BLE001 - torch.jit.load / torch.load / the model builder raise many types
            raise ValueError(f"AestheticQuality: {str(self.clip_path)!r} does not load as an OpenAI CLIP model "
                             f"({type(error).__name__}: {str(error)[:300]}); expected ViT-L-14.pt") from error
        return model.eval()

    def to(self, device: torch.device | str) -> AestheticQuality:
        self.device = torch.device(device)
        if self.device.type == "cuda" and self.precision == "auto":
            self.clip = self._load_clip("fp16", self.device)  # clip.load(device="cuda") keeps OpenAI's fp16 weights
        else:
            self.clip = self.clip.to(self.device)
        self.head = self.head.to(self.device)
        return self

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """float32 CLIP image embeddings [F, D] of uint8 frames [F, H, W, 3], ``batch_size`` frames per pass."""
        dtype = self.clip.visual.conv1.weight.dtype
        parts = []
        with torch.no_grad():
            for start in range(0, len(frames), self.batch_size):
                batch = vbench_clip_transform(frames[start:start + self.batch_size]).to(self.device, dtype)
                parts.append(self.clip.encode_image(batch).to(torch.float32))
        return torch.cat(parts)

    def __call__(self, video: torch.Tensor) -> float:
        frames = as_video(video, "AestheticQuality")
        with torch.no_grad():
            return aesthetic_quality(self.embed(frames), self.head)

    def describe(self) -> dict[str, Any]:
        dtype = str(self.clip.visual.conv1.weight.dtype).removeprefix("torch.")
        return {"dimension": "aesthetic_quality", "clip_weights": self.facts["clip"],
                "head_weights": self.facts["head"], "clip_dtype": dtype,
                "library": f"open_clip {self.open_clip.__version__} load_openai_model",
                "protocol": "VBench aesthetic_quality.py: clip_transform(224), L2-normalised embedding, LAION "
                            "linear head / 10, mean over frames", "label": "VBench (CLIP ViT-L/14 + LAION head)"}
