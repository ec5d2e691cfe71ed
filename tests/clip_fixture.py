"""A tiny open_clip CLIP for tests (224 x 224 input in a 4 x 4 grid of patches, one block per tower, 16-token
context), its checkpoint file, and the reference image embedding the papers' code computes: open_clip's eval
transform on PIL images, ``encode_image``, L2-normalised."""
from __future__ import annotations

from pathlib import Path

import torch

TINY = {"embed_dim": 16,
        "vision_cfg": {"image_size": 224, "layers": 1, "width": 32, "patch_size": 56, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1}}


def tiny_model(quick_gelu: bool = False, **changes):
    import open_clip

    torch.manual_seed(0)
    return open_clip.CLIP(**{**TINY, **changes}, quick_gelu=quick_gelu).eval()


def write_tiny_clip(path: Path) -> Path:
    """The tiny model's weights as an open_clip state dict at ``path``."""
    torch.save(tiny_model().state_dict(), path)
    return path


def reference_embeddings(images: torch.Tensor) -> torch.Tensor:
    """Unit embeddings [B, D] of float images [B, C, H, W] in [0, 1] (C = 1 or 3) by the tiny model, computed as
    D-TRAK's CLIP notebook does with its model: PIL image -> the model's eval transform -> encode_image."""
    import open_clip
    from PIL import Image

    preprocess = open_clip.image_transform(224, is_train=False)
    pixels = (images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    pil = [Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p) for p in pixels]
    with torch.no_grad():
        features = tiny_model().encode_image(torch.stack([preprocess(image) for image in pil]))
    return torch.nn.functional.normalize(features, dim=-1)
