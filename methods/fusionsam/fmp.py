"""FMP (fusion mask prompting): stock ``segment_anything`` SAM with a per-class mask decoder, the latent adapter,
and the GT point prompts of training.

Per the official ``train_sam.py`` / ``test.py``: the image encoder runs without gradient (frozen; a switch here),
the prompt encoder takes a *mask* prompt ``cond`` (a map that is zero except at 10 random pixels per class, which
hold the class id: ``add_point.py``) in training and nothing at test, the decoder's multimask output has one mask
per class, upsampled to the encoder's input size and trained with cross-entropy over classes. The modified decoder
is not published: here it is the stock ``MaskDecoder`` with ``num_multimask_outputs = num_classes`` (so
``multimask_output=True`` returns ``num_classes`` masks); the pretrained decoder's weights are copied wherever the
shapes agree (transformer, upscaling, the first four hypernetwork MLPs and mask tokens), the rest stays freshly
initialised and is listed in the provenance.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def build_sam(cfg: dict[str, Any]) -> nn.Module:
    """Stock ``segment_anything`` SAM: ``model_type`` + ``checkpoint`` or ``random_weights`` as Trident builds it
    (:func:`bench.methods.trident.adapter.build_sam`), or a ``tiny`` one from SAM's own classes: ``img_size``,
    ``patch_size`` (default 16; small images need a finer grid), ``embed_dim``, ``depth``, ``num_heads``,
    ``out_chans``, ``window_size`` (the last block global, as SAM's)."""
    if not cfg.get("tiny"):
        from bench.methods.trident.adapter import build_sam as build_stock_sam

        return build_stock_sam(cfg)
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    t = dict(cfg["tiny"])
    size, patch, dim = int(t["img_size"]), int(t.get("patch_size", 16)), int(t["out_chans"])
    if size % patch:
        raise ValueError(f"fusionsam sam.tiny: img_size {size} is not a multiple of patch_size {patch}")
    grid = size // patch
    return Sam(ImageEncoderViT(img_size=size, patch_size=patch, embed_dim=t["embed_dim"], depth=t["depth"],
                               num_heads=t["num_heads"], out_chans=dim, use_rel_pos=True, window_size=t["window_size"],
                               global_attn_indexes=(t["depth"] - 1,)),
               PromptEncoder(embed_dim=dim, image_embedding_size=(grid, grid), input_image_size=(size, size),
                             mask_in_chans=4),
               MaskDecoder(transformer_dim=dim, transformer=TwoWayTransformer(depth=1, embedding_dim=dim, num_heads=2,
                                                                              mlp_dim=2 * dim),
                           iou_head_hidden_dim=dim))


def per_class_decoder(sam: nn.Module, num_classes: int) -> list[str]:
    """Replace ``sam.mask_decoder`` by a stock ``MaskDecoder`` with ``num_classes`` multimask outputs, keeping the
    old decoder's transformer and sizes and copying every weight whose shape agrees (mask-token rows too); returns
    the names of the freshly initialised entries."""
    from segment_anything.modeling import MaskDecoder

    old = sam.mask_decoder
    head = old.iou_prediction_head
    new = MaskDecoder(transformer_dim=old.transformer_dim, transformer=old.transformer,
                      num_multimask_outputs=num_classes, iou_head_depth=head.num_layers,
                      iou_head_hidden_dim=head.layers[0].out_features)
    old_state, state = old.state_dict(), new.state_dict()
    fresh = []
    for key, value in state.items():
        source = old_state.get(key)
        if source is not None and source.shape == value.shape:
            state[key] = source
        elif key == "mask_tokens.weight" and source is not None:
            rows = min(source.shape[0], value.shape[0])
            state[key] = torch.cat([source[:rows], value[rows:]])
            fresh.append(f"{key}[{rows}:]")
        else:
            fresh.append(key)
    new.load_state_dict(state)
    sam.mask_decoder = new
    return fresh


def mask_input_size(sam: nn.Module) -> tuple[int, int]:
    """The prompt encoder's mask-prompt size (4 × the embedding grid: 256² for a 1024² SAM)."""
    return tuple(int(s) for s in sam.prompt_encoder.mask_input_size)  # type: ignore[return-value]


def point_prompt(label: Tensor, size: tuple[int, int], points_per_class: int, seed: int,
                 skip_classes: tuple[int, ...] = (0,), ignore_index: int = 255) -> Tensor:
    """The training mask prompt of one label map [H, W]: the label resized (nearest) to ``size``, then a map that
    is 0 except at ``points_per_class`` pixels of each present class (drawn with replacement, as
    ``np.random.choice`` in ``add_point.py``), which hold the class id. Classes in ``skip_classes`` (the code skips
    0) and ``ignore_index`` get no points. Deterministic in ``seed``; returns float [1, *size]."""
    small = F.interpolate(label[None, None].float(), size=size, mode="nearest")[0, 0].long().numpy()
    rng = np.random.default_rng(seed)
    out = np.zeros(size, dtype=np.float32)
    for cls in np.unique(small):
        if int(cls) in skip_classes or int(cls) == ignore_index:
            continue
        rows, cols = np.nonzero(small == cls)
        pick = rng.choice(len(rows), points_per_class)
        out[rows[pick], cols[pick]] = float(cls)
    return torch.from_numpy(out)[None]


class LatentAdapter(nn.Module):
    """The adapter that injects the fused latents into SAM's image embedding (the official design is unpublished;
    this one is ours): its input [B, D, h, w] (the adapter's caller stacks both modalities' normalised latents and
    the fusion network's fused features, ``FusionSAM.inputs``) is resized bilinearly to the embedding grid,
    projected by a 1×1 convolution + GELU + 3×3 convolution to SAM's embedding width and added to the image
    embedding. The last convolution starts at zero, so training starts from plain SAM."""

    def __init__(self, latent_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(latent_dim, embed_dim, 1), nn.GELU(),
                                     nn.Conv2d(embed_dim, embed_dim, 3, padding=1))
        nn.init.zeros_(self.project[2].weight)
        nn.init.zeros_(self.project[2].bias)

    def forward(self, fused_latent: Tensor, image_embedding: Tensor) -> Tensor:
        resized = F.interpolate(fused_latent, size=image_embedding.shape[-2:], mode="bilinear", align_corners=False)
        return image_embedding + self.project(resized)


class FusionSamModel(nn.Module):
    """SAM with the per-class decoder and an optional :class:`LatentAdapter`: ``forward`` maps SAM input images
    (uint8 range, [B, 3, S, S] at the encoder's size) to class logits [B, num_classes, S, S]."""

    def __init__(self, sam: nn.Module, adapter: LatentAdapter | None, freeze_image_encoder: bool) -> None:
        super().__init__()
        self.sam, self.adapter, self.freeze_image_encoder = sam, adapter, freeze_image_encoder
        self.sam.image_encoder.requires_grad_(not freeze_image_encoder)

    def embed(self, images: Tensor) -> Tensor:
        x = self.sam.preprocess(images)
        if self.freeze_image_encoder:
            with torch.no_grad():
                return self.sam.image_encoder(x)
        return self.sam.image_encoder(x)

    def forward(self, images: Tensor, prompts: Sequence[Tensor | None] | None = None,
                fused_latent: Tensor | None = None) -> Tensor:
        """``prompts``: one mask prompt [1, 1, *mask_input_size] or None per image (training), or None (test, no
        prompt at all); ``fused_latent``: the adapter's input, required exactly when the model has an adapter."""
        if (self.adapter is None) != (fused_latent is None):
            raise ValueError("fused latents are needed exactly when the model has an adapter "
                             f"(adapter: {self.adapter is not None}, fused latents given: {fused_latent is not None})")
        embedding = self.embed(images)
        if self.adapter is not None:
            embedding = self.adapter(fused_latent, embedding)
        if prompts is None or all(p is None for p in prompts):
            logits = self.decode(embedding, None)
        else:  # SAM's decoder repeats the embedding per prompt: one call per image
            logits = torch.cat([self.decode(embedding[i:i + 1], prompts[i]) for i in range(images.shape[0])])
        size = self.sam.image_encoder.img_size
        return F.interpolate(logits, (size, size), mode="bilinear", align_corners=False)

    def decode(self, embedding: Tensor, prompt: Tensor | None) -> Tensor:
        """Per-class low-res logits [B, num_classes, 4h, 4w] of image embeddings [B, C, h, w] under one mask prompt
        [1, 1, 4h, 4w] (then B must be 1) or none. Without a prompt, the whole batch goes through one decoder call:
        the prompt encoder's batch-1 embeddings broadcast over the images in every attention and sum of the stock
        decoder (equal to one call per image, checked in tests/test_fusionsam_fmp.py), which is several times
        faster on a CPU for tiny models."""
        if prompt is not None and embedding.shape[0] != 1:
            raise ValueError(f"a mask prompt goes with one image embedding, got {embedding.shape[0]}")
        sparse, dense = self.sam.prompt_encoder(points=None, boxes=None, masks=prompt)
        low_res, _ = self.sam.mask_decoder(image_embeddings=embedding, image_pe=self.sam.prompt_encoder.get_dense_pe(),
                                           sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                           multimask_output=True)
        return low_res


def describe_sam(cfg: dict[str, Any]) -> str:
    """A short label of a SAM config for provenance and smoke reasons."""
    if cfg.get("tiny"):
        return "tiny randomly initialised SAM"
    if cfg.get("random_weights"):
        return f"full-size SAM {cfg.get('model_type')} with random weights"
    return f"SAM {cfg.get('model_type')} from {cfg.get('checkpoint')}"
