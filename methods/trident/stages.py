"""Trident's splice-then-segment stages as plain tensor functions (arXiv 2411.09219, official code YuHengsss/Trident).

Each function is one step of the official inference path, written batch-first on stock tensors so that the
adapter can feed it from hooks on stock open_clip / DINO / SAM modules, and so that tests can check every step
against a direct computation. Where the official code has a quirk that changes numbers, the docstring says so.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

#: a window as pixel bounds (y1, x1, y2, x2) of the resized image
Window = tuple[int, int, int, int]


# --- text side ------------------------------------------------------------------------------------------------

def class_vocabulary(classes: Sequence[str], background: Sequence[str] | None = None,
                     rename: Mapping[str, str] | None = None, join_words: bool = False) -> list[str]:
    """Prompt lines of a benchmark's classes, one per class with synonyms joined by ``"; "`` (the cls_*.txt form).

    ``background`` replaces class 0's name by these words; ``rename`` maps a dataset name to its prompt name;
    ``join_words`` drops the spaces of multi-word names ("traffic light" -> "trafficlight"). Together they express
    how the official class files word each benchmark (configs/trident/<dataset>.py say which apply).
    """
    if background and (not classes or classes[0] != "background"):
        raise ValueError(f"background words replace a class named 'background' at index 0; these classes start with "
                         f"{classes[0] if classes else None!r}")
    rename = rename or {}
    lines = []
    for index, name in enumerate(classes):
        name = rename.get(name, name)
        lines.append("; ".join(background) if index == 0 and background else
                     name.replace(" ", "") if join_words else name)
    return lines


def query_names(lines: Sequence[str]) -> tuple[list[str], list[int]]:
    """The text queries of class lines (synonyms split on ``"; "``) and the class index of each query."""
    names, indices = [], []
    for index, line in enumerate(lines):
        for name in line.split("; "):
            names.append(name)
            indices.append(index)
    return names, indices


def text_embeddings(encode_text: Callable[[list[str]], Tensor], names: Sequence[str],
                    templates: Sequence[Callable[[str], str]], dtype: torch.dtype = torch.float32) -> Tensor:
    """One embedding per name: every template's text embedding L2-normalised, averaged, normalised again, in
    ``dtype`` (the official fp16 path does this in CLIP's float16 output)."""
    rows = []
    for name in names:
        features = encode_text([template(name) for template in templates]).to(dtype)
        features = features / features.norm(dim=-1, keepdim=True)
        mean = features.mean(dim=0)
        rows.append(mean / mean.norm())
    return torch.stack(rows)


# --- windows --------------------------------------------------------------------------------------------------

def resize_to_stride(image: Tensor, stride: int, slide_crop: int) -> Tensor:
    """Bilinear resize [B, C, H, W] so both sides are multiples of ``stride`` and at least ``slide_crop``.

    The official ``preprocess_image``: images whose sides already divide are returned as they are (even if smaller
    than the crop); otherwise the long side is rounded up to the stride, the short side scaled with it (truncated)
    and rounded up too.
    """
    height, width = image.shape[-2:]
    if height % stride == 0 and width % stride == 0:
        return image
    longer = max(height, width)
    target_longer = -(-longer // stride) * stride
    new_h, new_w = int(height * target_longer / longer), int(width * target_longer / longer)
    new_h, new_w = -(-new_h // stride) * stride, -(-new_w // stride) * stride
    new_h, new_w = max(new_h, slide_crop), max(new_w, slide_crop)
    return F.interpolate(image, (new_h, new_w), mode="bilinear", align_corners=False)


def sliding_windows(height: int, width: int, crop: int, stride: int) -> tuple[list[Window], tuple[int, int]]:
    """mmseg-style slide windows (the last row/column shifted back inside the image) and the grid shape."""
    rows = max(height - crop + stride - 1, 0) // stride + 1
    cols = max(width - crop + stride - 1, 0) // stride + 1
    windows = []
    for row in range(rows):
        for col in range(cols):
            y2, x2 = min(row * stride + crop, height), min(col * stride + crop, width)
            windows.append((max(y2 - crop, 0), max(x2 - crop, 0), y2, x2))
    return windows, (rows, cols)


def pad_amounts(height: int, width: int, multiple: int) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zero padding to the next multiple, split as the official ``compute_padsize``."""
    horizontal, vertical = -width % multiple, -height % multiple
    return horizontal // 2, horizontal - horizontal // 2, vertical // 2, vertical - vertical // 2


# --- DINO proxy attention (CLIP's last block replaced) ---------------------------------------------------------

def proxy_attention(vfm_features: Tensor, beta: float, gamma: float) -> Tensor:
    """Attention [B, N, N] from DINO patch features [B, C, H, W] (ProxyCLIP).

    S = cosine similarity of the tokens; S' = (S - beta * mean(S)) * gamma, where the mean is taken over the
    whole batch tensor, as the official code does; entries below 0 become -inf; softmax over keys.
    """
    tokens = F.normalize(vfm_features.flatten(2), dim=1)
    similarity = torch.einsum("bcm,bcn->bmn", tokens, tokens)
    similarity = (similarity - similarity.mean() * beta) * gamma
    similarity = similarity.masked_fill(similarity < 0, float("-inf"))
    return similarity.softmax(dim=-1)


def proxy_block_output(tokens: Tensor, in_proj_weight: Tensor, in_proj_bias: Tensor | None,
                       out_proj: Callable[[Tensor], Tensor], num_heads: int, clip_grid: tuple[int, int],
                       vfm_grid: tuple[int, int], attention: Tensor) -> Tensor:
    """The replaced last CLIP block for a batch of windows: out_proj(attention · v), no residual, no MLP.

    ``tokens`` [B, L, D] are ``ln_1`` of the block input without the CLS token, on the CLIP grid ``clip_grid``;
    v is the block's value projection, resized bilinearly to the DINO grid ``vfm_grid`` of ``attention``
    [B, N, N], which every head shares. Returns [B, N, D] on the DINO grid. (The official code names the grid
    (W, H) where it means (H, W); windows are square, so it never matters.)
    """
    batch, _, dim = tokens.shape
    head_dim = dim // num_heads
    v_bias = in_proj_bias[2 * dim:] if in_proj_bias is not None else None
    v = F.linear(tokens, in_proj_weight[2 * dim:], v_bias)  # B, L, D
    v = v.reshape(batch, *clip_grid, num_heads, head_dim).permute(0, 3, 4, 1, 2).flatten(0, 1)  # B*h, hd, H, W
    v = F.interpolate(v, size=vfm_grid, mode="bilinear", align_corners=False)
    v = v.flatten(2).transpose(1, 2)  # B*h, N, hd
    out = torch.bmm(attention.repeat_interleave(num_heads, dim=0).to(v.dtype), v)
    out = out.reshape(batch, num_heads, -1, head_dim).transpose(1, 2).reshape(batch, -1, dim)
    return out_proj(out)


# --- splicing and SAM-guided aggregation -----------------------------------------------------------------------

def splice(window_maps: Tensor, token_boxes: Sequence[tuple[int, int, int, int]], canvas: tuple[int, int]) -> Tensor:
    """Paste window feature maps [n, D, h, w] at their token boxes (y1, x1, y2, x2) into a canvas [1, D, H, W],
    averaging where windows overlap."""
    total = window_maps.new_zeros(1, window_maps.shape[1], *canvas)
    count = window_maps.new_zeros(1, 1, *canvas)
    for window, (y1, x1, y2, x2) in zip(window_maps, token_boxes, strict=True):
        total[0, :, y1:y2, x1:x2] += window
        count[0, :, y1:y2, x1:x2] += 1
    return total / count


def sam_guided_weights(sam_values: Tensor, sam_attention: Tensor, cos_fac: float, refine_neg_cos: bool = True,
                       max_threshold: float = 0.9) -> Tensor:
    """Aggregation weights [N, N] from SAM's last block: values [heads, N, c] and attention [heads, N, N].

    Per head, the cosine similarity C_h of the value tokens; per query, thr = cos_fac · mean over heads and keys
    of C (a negative thr becomes 0.6 when ``refine_neg_cos`` is False), capped at ``max_threshold``; attention
    entries with C_h > thr are kept, averaged over heads and row-normalised.
    """
    values = F.normalize(sam_values, dim=-1)
    similarity = torch.einsum("hmc,hnc->hmn", values, values)
    threshold = cos_fac * similarity.mean(dim=0, keepdim=True).mean(dim=-1, keepdim=True)
    if not refine_neg_cos:
        threshold = torch.where(threshold < 0, torch.full_like(threshold, 0.6), threshold)
    threshold = threshold.clamp(max=max_threshold)
    kept = torch.where(similarity > threshold, sam_attention, torch.zeros_like(sam_attention)).mean(dim=0)
    return kept / kept.sum(dim=-1, keepdim=True)


def aggregate(spliced: Tensor, weights: Tensor, sam_grid: tuple[int, int]) -> Tensor:
    """Spliced features [1, D, H, W] resized (bilinear) to SAM's valid grid and mixed by ``weights``: [N, D]."""
    features = F.interpolate(spliced, size=sam_grid, mode="bilinear", align_corners=False).flatten(2)[0].T
    return weights.to(features.dtype) @ features


# --- classification ----------------------------------------------------------------------------------------------

def classify(features: Tensor, text: Tensor, query_index: Sequence[int], sam_grid: tuple[int, int],
             output_size: tuple[int, int], logit_scale: float = 40.0, prob_thd: float = 0.0) -> tuple[Tensor, Tensor]:
    """Class probabilities [K, H, W] and labels [H, W] from projected features [N, D] and text embeddings [Q, D].

    Cosine logits on the SAM grid and their bilinear upsampling to ``output_size`` in the dtype of ``features``
    (as the official code, which casts to float32 only after upsampling), softmax over queries after
    ``logit_scale``; background synonyms (the first ``Q - K + 1`` queries, as the official code assumes) merge
    by max. Pixels whose top probability is below ``prob_thd`` become class 0.
    """
    features = features / features.norm(dim=-1, keepdim=True)
    logits = (features @ text.T.to(features.dtype)).T.reshape(1, -1, *sam_grid)
    logits = F.interpolate(logits, size=output_size, mode="bilinear", align_corners=False)[0].float()
    probs = (logits * logit_scale).softmax(dim=0)
    num_classes = max(query_index) + 1
    if num_classes != len(query_index):
        probs = torch.cat([probs[: len(query_index) - num_classes + 1].max(dim=0, keepdim=True).values,
                           probs[len(query_index) - num_classes + 1:]])
    top, labels = probs.max(dim=0)
    labels = labels.masked_fill(top < prob_thd, 0)
    return probs, labels
