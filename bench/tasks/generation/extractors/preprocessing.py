"""Image preprocessing of the memorization evaluators (SSCD, CLIP score) as named, recorded pipelines.

Each paper's evaluator runs torchvision transforms on PIL images (Resize, CenterCrop, ToTensor, Normalize); the
``"pil"`` backend replays exactly those calls on each uint8 image, so the resize is PIL's (antialiased; PIL's
bicubic is not torch's). AMG resizes its generations as float tensors instead (``F.interpolate``, no antialias):
that is the ``"tensor"`` backend. Similarity thresholds are not portable between pipelines (papers README), so an
extractor records :meth:`ImagePreprocessing.describe` with its weights.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from bench.suggest import suggest

# open_clip.constants.OPENAI_DATASET_MEAN / _STD: the normalisation of open_clip's eval transform for OpenAI and
# LAION CLIP weights (ViT-g-14 laion2b_s12b_b42k included)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

Images = torch.Tensor | Sequence[torch.Tensor]


@dataclass(frozen=True)
class ImagePreprocessing:
    """uint8 images -> float32 [B, 3, h, w]: resize, optional centre crop, scale to [0, 1], optional mean/std.

    Args:
        name: the preset's name, recorded with the features.
        source: the code this pipeline reproduces (file and function).
        resize: an int resizes the shorter side to it keeping the aspect (torchvision ``Resize(int)``); (h, w)
            resizes to exactly that size.
        interpolation: "bilinear" or "bicubic".
        backend: "pil" (torchvision functional transforms on a PIL image) or "tensor" (``F.interpolate`` on the
            float image in [0, 1], ``align_corners=False``, no antialias).
        crop: side of the centre crop after the resize (torchvision ``CenterCrop``), or None.
        mean, std: per-channel ``(x - mean) / std`` after scaling to [0, 1], or None for no normalisation.
    """

    name: str
    source: str
    resize: int | tuple[int, int]
    interpolation: str = "bilinear"
    backend: str = "pil"
    crop: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    @property
    def output_size(self) -> tuple[int, int] | None:
        """(h, w) of every output, or None when it follows the input's aspect (shorter-side resize, no crop)."""
        if self.crop is not None:
            return self.crop, self.crop
        return tuple(self.resize) if isinstance(self.resize, tuple) else None  # type: ignore[return-value]

    def __call__(self, images: Images) -> torch.Tensor:
        """uint8 [B, H, W, C] (C = 1 or 3), or a list of uint8 [H, W, C] of different sizes (ground-truth images)
        -> float32 [B, 3, h, w] on the CPU. Grey images are repeated to RGB, as PIL's ``convert("RGB")`` does."""
        items = list(check_images(images))
        if not items:
            size = self.output_size or (0, 0)
            return torch.empty(0, 3, *size, dtype=torch.float32)
        convert = self._pil if self.backend == "pil" else self._tensor
        out = [convert(image.detach().cpu()) for image in items]
        if any(o.shape != out[0].shape for o in out):
            raise ValueError(f"preprocessing {self.name!r} gave images of different sizes "
                             f"({sorted({tuple(o.shape[1:]) for o in out})}); it needs a crop or a fixed (h, w) "
                             "resize to batch images of different aspect")
        batch = torch.stack(out)
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, dtype=torch.float32).view(1, 3, 1, 1)
            std = torch.tensor(self.std, dtype=torch.float32).view(1, 3, 1, 1)
            batch = (batch - mean) / std  # torchvision Normalize: sub_(mean).div_(std)
        return batch

    def _pil(self, image: torch.Tensor) -> torch.Tensor:
        import torchvision.transforms.functional as TF
        from PIL import Image
        from torchvision.transforms import InterpolationMode

        array = image.numpy()
        pil = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).convert("RGB")
        mode = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}[self.interpolation]
        size = list(self.resize) if isinstance(self.resize, tuple) else self.resize
        pil = TF.resize(pil, size, interpolation=mode)
        if self.crop is not None:
            pil = TF.center_crop(pil, [self.crop, self.crop])
        return TF.to_tensor(pil)

    def _tensor(self, image: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        x = image.permute(2, 0, 1).expand(3, -1, -1).float().div(255).unsqueeze(0)
        if isinstance(self.resize, int):
            h, w = x.shape[-2:]
            short, long = (h, w) if h <= w else (w, h)
            new_long = int(self.resize * long / short)  # torchvision's rounding of the longer side
            size = (self.resize, new_long) if h <= w else (new_long, self.resize)
        else:
            size = (self.resize[0], self.resize[1])
        x = F.interpolate(x, size=size, mode=self.interpolation, align_corners=False)[0]
        if self.crop is not None:
            import torchvision.transforms.functional as TF

            x = TF.center_crop(x, [self.crop, self.crop])
        return x

    def describe(self) -> dict[str, Any]:
        """Every setting, for the run's results (thresholds are not portable between pipelines)."""
        return {"name": self.name, "source": self.source, "resize": self.resize, "interpolation": self.interpolation,
                "backend": self.backend, "crop": self.crop, "mean": self.mean, "std": self.std}


def check_images(images: Images) -> Sequence[torch.Tensor]:
    """The images of a uint8 [B, H, W, C] tensor or a list of uint8 [H, W, C] tensors, C = 1 or 3; a clear error
    otherwise."""
    if isinstance(images, torch.Tensor):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(f"images must be uint8 [B, H, W, C] with C = 1 or 3, got {images.dtype} "
                             f"{tuple(images.shape)}")
        return list(images)
    if not isinstance(images, (list, tuple)):
        raise TypeError(f"images must be a uint8 tensor [B, H, W, C] or a list of uint8 [H, W, C] tensors, got "
                        f"{type(images).__name__}")
    for i, image in enumerate(images):
        if (not isinstance(image, torch.Tensor) or image.dtype != torch.uint8 or image.dim() != 3
                or image.shape[-1] not in (1, 3) or min(image.shape[:2]) < 1):
            what = f"{image.dtype} {tuple(image.shape)}" if isinstance(image, torch.Tensor) else type(image).__name__
            raise ValueError(f"images[{i}] must be a uint8 [H, W, C] tensor with C = 1 or 3, got {what}")
    return images


def pick_preset(presets: dict[str, ImagePreprocessing], name: str, who: str) -> ImagePreprocessing:
    """The preset called ``name``, or an error listing them."""
    if name not in presets:
        raise ValueError(f"{who}: unknown preprocessing {name!r}; one of {sorted(presets)}."
                         f"{suggest(name, list(presets))}")
    return presets[name]
