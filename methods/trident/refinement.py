"""Trident's optional SAM refinement, the parts that do not need SAM: prompts from the coarse prediction and the
merge of SAM's masks back into it (official ``seg_utils/utils.py``: ``sam_refinement``, ``split_connected_regions``,
``map_refinement_coarse``, ``map_failed_regions``).

Coordinates follow SAM's conventions: points are (x, y); boxes are (x1, y1, x2, y2) with inclusive maxima, as
``torchvision.ops.masks_to_boxes`` gives them. Connected components are 8-connected (skimage ``connectivity=2``
in the official code; ``scipy.ndimage.label`` with a 3x3 structure here, the same components in the same
raster order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import Tensor
from torchvision.ops import masks_to_boxes

DOWN_RATIO = 2  # the official refinement works on the coarse maps downsampled x2
MASK_FRAME = 256  # SAM's low-resolution mask-prompt frame (4 x its 64 x 64 embedding)


@dataclass
class ClassPrompts:
    """One class's components on the downsampled grid: masks [n, h, w], boxes [n, 4] (x1, y1, x2, y2), points
    [n, 2] (x, y) at the class's highest probability inside each component, and mean probabilities [n]."""

    masks: Tensor
    boxes: Tensor
    points: Tensor
    scores: Tensor


def downsample_coarse(labels: Tensor, probs: Tensor, num_classes: int, coarse_thresh: float) -> tuple[Tensor, Tensor]:
    """Labels (nearest) and probabilities (bilinear) at half size; with ``coarse_thresh`` > 0, pixels whose top
    probability is below it get the extra label ``num_classes`` ("uncertain")."""
    size = [labels.shape[-2] // DOWN_RATIO, labels.shape[-1] // DOWN_RATIO]
    labels_down = F.interpolate(labels[None, None].float(), size, mode="nearest")[0, 0].long()
    probs_down = F.interpolate(probs[None].float(), size, mode="bilinear", align_corners=False)[0]
    if coarse_thresh > 0:
        labels_down = labels_down.masked_fill(probs_down.max(dim=0).values < coarse_thresh, num_classes)
    return labels_down, probs_down


def class_prompts(labels: Tensor, probs: Tensor, num_classes: int, coarse_thresh: float,
                  minimal_area: int) -> dict[int, ClassPrompts]:
    """Components of each class ≥ ``minimal_area`` pixels, with their box and point prompts.

    Every real class is split (the official ``split_last`` flag only keeps the added "uncertain" label out);
    classes whose probability never reaches ``coarse_thresh`` get no prompts.
    """
    prompts: dict[int, ClassPrompts] = {}
    structure = np.ones((3, 3), dtype=bool)
    for c in range(num_classes):
        class_prob = probs[c]
        if float(class_prob.max()) < coarse_thresh:
            continue
        components, count = ndimage.label((labels == c).cpu().numpy(), structure=structure)
        masks, points, scores = [], [], []
        for index in range(1, count + 1):
            mask = torch.from_numpy(components == index)
            if int(mask.sum()) < minimal_area:
                continue
            flat = int(torch.argmax(class_prob * mask.to(class_prob)))
            points.append(torch.tensor([flat % class_prob.shape[1], flat // class_prob.shape[1]]))
            scores.append(class_prob[mask].mean())
            masks.append(mask)
        if masks:
            stacked = torch.stack(masks)
            prompts[c] = ClassPrompts(stacked, masks_to_boxes(stacked), torch.stack(points), torch.stack(scores))
    return prompts


def mask_prompt(class_prob: Tensor, image_hw: tuple[int, int], coarse_thresh: float, coefficient: float,
                frame: int = MASK_FRAME) -> Tensor:
    """The dense prompt [1, frame, frame] (256 for real SAM models): the class probability resized so the long
    side is ``frame`` (SAM's ``get_preprocess_shape`` of the image size), zero-padded bottom/right, zeroed below
    ``coarse_thresh`` and scaled by ``coefficient`` (``sam_mask_coff``)."""
    height, width = image_hw
    scale = frame / max(height, width)
    new_h, new_w = int(height * scale + 0.5), int(width * scale + 0.5)
    resized = F.interpolate(class_prob[None, None].float(), [new_h, new_w], mode="bilinear", align_corners=False)[0]
    padded = F.pad(resized, (0, frame - new_w, 0, frame - new_h), value=0.0)
    return torch.where(padded > coarse_thresh, coefficient * padded, torch.zeros_like(padded))


def merge_refined(mask_probs: Tensor, mask_bits: Tensor, class_of_mask: Tensor, probs: Tensor,
                  coarse_labels: Tensor) -> tuple[Tensor, Tensor]:
    """Refined labels [1, H, W] and scores [C, H, W] from SAM's accepted masks (official ``map_refinement_coarse``).

    ``mask_probs`` [n, H, W] are sigmoid(SAM logits), ``mask_bits`` [n, H, W] the binarised masks and
    ``class_of_mask`` [n] their class; a class's score is the max over its masks of SAM prob x CLIP prob, kept
    inside the union of its masks. Labels are the argmax; pixels no mask covers keep ``coarse_labels`` [1, H, W].
    """
    scores = torch.zeros_like(probs)
    for c in class_of_mask.unique().tolist():
        chosen = class_of_mask == c
        best = (mask_probs[chosen] * probs[c]).max(dim=0).values
        scores[c] = best * mask_bits[chosen].any(dim=0)
    labels = scores.argmax(dim=0, keepdim=True)
    return torch.where(scores.sum(dim=0, keepdim=True) == 0, coarse_labels, labels), scores


def keep_coarse_where_refinement_failed(refined_labels: Tensor, refined_scores: Tensor, failed: Tensor,
                                        probs: Tensor, coarse_labels: Tensor) -> tuple[Tensor, Tensor]:
    """Inside components whose SAM mask was rejected (``failed`` [m, H, W]), the coarse probability replaces the
    refined score where it is higher (official ``map_failed_regions``). The official label rule, coarse label
    where the coarse top probability beats the refined top score, is checked after that replacement, so it can
    never fire: labels come back unchanged. Kept as written, for parity."""
    failed_probs = failed.any(dim=0, keepdim=True) * probs
    scores = torch.where(failed_probs > refined_scores, failed_probs, refined_scores)
    coarse_wins = failed_probs.max(dim=0, keepdim=True).values > scores.max(dim=0, keepdim=True).values
    return torch.where(coarse_wins, coarse_labels, refined_labels), scores
