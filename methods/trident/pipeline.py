"""Trident's coarse prediction for one image, composed from the stages on stock modules (no refinement yet).

Follows the official ``Trident.get_trident_seg`` and ``postprocess_result``: SAM sees the original RGB image
resized up to multiples of the CLIP patch (``cv2.resize``); CLIP and DINO see the test-pipeline image (mmseg
``Resize`` to short side ``S``: ``cv2.resize`` on uint8, then ``SegDataPreProcessor``'s normalisation) resized in
float by ``preprocess_image`` and cut into ``slide_crop`` windows. Each stage runs in the dtype its
``StagePrecision`` names and ``trace`` can keep every stage's output.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.profiler import record_function

from bench.methods.trident import refinement, stages
from bench.methods.trident.encoders import (SamLastAttention, clip_last_block_input, clip_project,
                                            dino_patch_features)
from bench.methods.trident.precision import StagePrecision

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
# the official SegDataPreProcessor's mean/std on the 0-255 scale: CLIP's, rounded to three decimals
PIXEL_MEAN, PIXEL_STD = (122.771, 116.746, 104.094), (68.501, 66.632, 70.323)
#: how uint8 images are resized (recorded in provenance)
RESIZE = "cv2.resize INTER_LINEAR on uint8, sizes rounded as mmcv rescale_size (mmseg Resize, keep_ratio)"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SAM_PATCH = 16


@dataclass
class TridentSettings:
    """The hyper-parameters of the sheet's section 3 with the official defaults (``base_config.py``)."""

    short_side: int = 448
    slide_crop: int = 336
    slide_stride: int = 224
    window_pad: int = 56
    beta: float = 1.2
    gamma: float = 3.0
    cos_fac: float = 1.2
    refine_neg_cos: bool = True
    logit_scale: float = 40.0
    prob_thd: float = 0.0
    sam_per_half: bool = False  # Cityscapes: SAM runs on the left and right halves separately
    sam_aggregation: bool = True  # False: classify the spliced CLIP map itself (the ProxyCLIP row of the table)


def resize_uint8(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """uint8 HWC resized to ``size`` (H, W) by ``cv2.resize`` with ``INTER_LINEAR``, as mmcv's ``imresize`` and
    the official SAM input do (cv2's fixed-point weights round differently from a float bilinear kernel rounded
    to uint8: about 10% of values of natural images differ by one grey level, 13% of noise)."""
    import cv2  # imported on first use: the import costs a noticeable fraction of a second

    return cv2.resize(np.ascontiguousarray(rgb), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def keep_ratio_size(height: int, width: int, short_side: int, long_side: int = 2048) -> tuple[int, int]:
    """mmcv ``rescale_size`` for ``Resize(scale=(long_side, short_side), keep_ratio=True)``: (H, W), each side
    ``int(side * factor + 0.5)`` (halves round up, unlike Python's ``round``)."""
    factor = min(long_side / max(height, width), short_side / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def clip_input(rgb: np.ndarray, short_side: int) -> Tensor:
    """The test-pipeline image [1, 3, H, W]: mmseg ``Resize(scale=(2048, short_side), keep_ratio=True)`` on the
    uint8 image, then ``SegDataPreProcessor``: float32, ``(x - mean) / std`` with its 0-255 constants."""
    resized = torch.from_numpy(resize_uint8(rgb, keep_ratio_size(*rgb.shape[:2], short_side))).permute(2, 0, 1)
    mean, std = torch.tensor(PIXEL_MEAN).view(-1, 1, 1), torch.tensor(PIXEL_STD).view(-1, 1, 1)
    return ((resized.float() - mean) / std)[None]


class TridentModels:
    """Stock CLIP (open_clip ``CLIP``), DINO (timm ViT) and SAM (``segment_anything`` ``Sam``), with the text
    embeddings of the class names and a probe on SAM's last attention."""

    def __init__(self, clip: nn.Module, dino: nn.Module, sam: nn.Module, text: Tensor, query_index: list[int],
                 precision: StagePrecision) -> None:
        from segment_anything import SamPredictor

        self.clip, self.dino, self.sam, self.precision = clip.eval(), dino.eval(), sam.eval(), precision
        self.text, self.query_index = text, list(query_index)
        self.clip_patch = int(clip.visual.conv1.kernel_size[0])
        self.device = clip.visual.conv1.weight.device
        self.predictor = SamPredictor(sam)
        self.probe = SamLastAttention(sam.image_encoder)
        self.last_sam_image: np.ndarray | None = None  # the image the refinement re-uses SAM's embedding of

    def sam_tokens(self, rgb: np.ndarray) -> tuple[Tensor, Tensor, tuple[int, int]]:
        """SAM's last attention [heads, N, N] and values [heads, N, c] over the valid (unpadded) token grid, in the
        aggregation dtype."""
        with record_function("trident.sam_encoder"):
            self.predictor.set_image(rgb)
        grid = (self.predictor.input_size[0] // SAM_PATCH, self.predictor.input_size[1] // SAM_PATCH)
        full = self.probe.values.shape[2]
        attention = self.probe.attention[0].reshape(-1, full, full, full, full)
        attention = attention[:, : grid[0], : grid[1], : grid[0], : grid[1]].reshape(-1, grid[0] * grid[1],
                                                                                      grid[0] * grid[1])
        values = self.probe.values[0, :, : grid[0], : grid[1]].flatten(1, 2)
        dtype = self.precision.aggregation
        return attention.to(dtype), values.to(dtype), grid


@torch.no_grad()
def coarse_predict(models: TridentModels, settings: TridentSettings, rgb: np.ndarray,
                   trace: dict[str, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """Class probabilities [K, H, W] and labels [H, W] at the original size of ``rgb`` (uint8 HWC).

    ``trace``, when given, receives the outputs of the stages named in ``precision.STAGES`` (``dino``, ``clip``:
    ``ln_1`` of the tokens entering CLIP's last block, ``proxy_attention``, ``splice``, ``aggregation`` unless
    SAM aggregation is off, ``classification``: the projected features), for inspection and tests.
    """
    trace = {} if trace is None else trace
    precision, stride = models.precision, models.clip_patch
    height, width = rgb.shape[:2]
    with record_function("trident.windows"):
        sam_image = resize_uint8(rgb, (-(-height // stride) * stride, -(-width // stride) * stride))
        models.last_sam_image = sam_image
        image = stages.resize_to_stride(clip_input(rgb, settings.short_side).to(models.device), stride,
                                        settings.slide_crop)
        windows, _ = stages.sliding_windows(*image.shape[-2:], settings.slide_crop, settings.slide_stride)
        crops = []
        for y1, x1, y2, x2 in windows:
            left, right, top, bottom = stages.pad_amounts(y2 - y1, x2 - x1, settings.window_pad)
            crops.append(F.pad(image[:, :, y1:y2, x1:x2], (left, right, top, bottom)))
        crops = torch.cat(crops)
        def channels(values: tuple[float, ...]) -> Tensor:
            return torch.tensor(values, device=crops.device).view(1, 3, 1, 1)

        dino_in = (crops * channels(CLIP_STD) + channels(CLIP_MEAN) - channels(IMAGENET_MEAN)) / channels(IMAGENET_STD)
    with record_function("trident.dino"):
        trace["dino"] = vfm = dino_patch_features(models.dino, dino_in.to(precision.dino))
    with record_function("trident.clip"):
        tokens, clip_grid = clip_last_block_input(models.clip.visual, crops.to(precision.clip))
        trace["clip"] = tokens
        last, dtype = models.clip.visual.transformer.resblocks[-1].attn, precision.proxy_attention
        bias = last.in_proj_bias.to(dtype) if last.in_proj_bias is not None else None

        def out_proj(x: Tensor) -> Tensor:
            return F.linear(x, last.out_proj.weight.to(dtype),
                            last.out_proj.bias.to(dtype) if last.out_proj.bias is not None else None)

        attention = stages.proxy_attention(vfm.to(dtype), settings.beta, settings.gamma)
        out = stages.proxy_block_output(tokens.to(dtype), last.in_proj_weight.to(dtype), bias, out_proj,
                                        last.num_heads, clip_grid, tuple(vfm.shape[-2:]), attention)
        trace["proxy_attention"] = out
    with record_function("trident.splice"):
        maps = out.transpose(1, 2).reshape(len(windows), -1, *vfm.shape[-2:]).to(precision.splice)
        if tuple(maps.shape[-2:]) != tuple(clip_grid):  # e.g. ViT-H/14: 21 DINO tokens a side onto 24 CLIP
            maps = F.interpolate(maps, size=clip_grid, mode="bilinear", align_corners=False)
        boxes = [(y1 // stride, x1 // stride, y2 // stride, x2 // stride) for y1, x1, y2, x2 in windows]
        trace["splice"] = canvas = stages.splice(maps, boxes, (image.shape[-2] // stride, image.shape[-1] // stride))
    if not settings.sam_aggregation:
        grid = (canvas.shape[-2], canvas.shape[-1])
        features = canvas.flatten(2)[0].T
    elif settings.sam_per_half:
        features, grid = _aggregate_halves(models, settings, sam_image, canvas.to(precision.aggregation))
        trace["aggregation"] = features
    else:
        sam_attention, sam_values, grid = models.sam_tokens(sam_image)
        with record_function("trident.aggregate"):
            weights = stages.sam_guided_weights(sam_values, sam_attention, settings.cos_fac,
                                                settings.refine_neg_cos)
            trace["aggregation"] = features = stages.aggregate(canvas.to(precision.aggregation), weights, grid)
    with record_function("trident.classify"):
        trace["classification"] = projected = clip_project(models.clip.visual, features, precision.classification)
        return stages.classify(projected, models.text, models.query_index, grid, (height, width),
                               settings.logit_scale, settings.prob_thd)


def _aggregate_halves(models: TridentModels, settings: TridentSettings, sam_image: np.ndarray,
                      canvas: Tensor) -> tuple[Tensor, tuple[int, int]]:
    """Cityscapes: SAM on the left and right image halves, each aggregating its half of the canvas."""
    half_w, half_canvas = sam_image.shape[1] // 2, canvas.shape[-1] // 2
    rows = []
    grids = []
    for image_half, canvas_half in ((sam_image[:, :half_w], canvas[..., :half_canvas]),
                                    (sam_image[:, half_w:], canvas[..., half_canvas:])):
        sam_attention, sam_values, grid = models.sam_tokens(np.ascontiguousarray(image_half))
        weights = stages.sam_guided_weights(sam_values, sam_attention, settings.cos_fac, settings.refine_neg_cos)
        rows.append(stages.aggregate(canvas_half, weights, grid).reshape(*grid, -1))
        grids.append(grid)
    features = torch.cat(rows, dim=1)
    grid = (grids[0][0], grids[0][1] + grids[1][1])
    return features.reshape(grid[0] * grid[1], -1), grid


@dataclass
class RefinementSettings:
    """SAM refinement (sheet section 3.8); ``sam_iou_thresh`` 0.8 is ``base_config``'s (the class default is 0.9)."""

    coarse_thresh: float = 0.2
    minimal_area: int = 225
    sam_mask_coff: float = 0.005
    sam_iou_thresh: float = 0.8


@torch.no_grad()
def refine_prediction(models: TridentModels, settings: RefinementSettings, rgb: np.ndarray, sam_image: np.ndarray,
                      labels: Tensor, probs: Tensor) -> tuple[Tensor, Tensor]:
    """Refined labels [H, W] and scores [K, H, W] (official ``sam_refinement``).

    Components of the ×2-downsampled coarse prediction become box, point and dense-mask prompts; SAM's single
    masks with predicted IoU above ``sam_iou_thresh`` replace the coarse labels where they cover; rejected
    components keep their coarse probabilities. ``sam_image`` is the image SAM's embedding is (or is to be) set on.
    """
    with record_function("trident.refine"):
        return _refine(models, settings, rgb, sam_image, labels, probs)


def _refine(models: TridentModels, settings: RefinementSettings, rgb: np.ndarray, sam_image: np.ndarray,
            labels: Tensor, probs: Tensor) -> tuple[Tensor, Tensor]:
    if getattr(models.predictor, "original_size", None) != tuple(sam_image.shape[:2]):  # Cityscapes: halves set last
        models.predictor.set_image(sam_image)
    num_classes = probs.shape[0]
    labels_down, probs_down = refinement.downsample_coarse(labels, probs, num_classes, settings.coarse_thresh)
    prompts = refinement.class_prompts(labels_down, probs_down, num_classes, settings.coarse_thresh,
                                       settings.minimal_area)
    predictor, down_hw = models.predictor, tuple(labels_down.shape)
    predictor.features = predictor.features.float()
    low_res, mask_class, failed = [], [], []
    for c, found in prompts.items():
        dense = refinement.mask_prompt(probs_down[c], rgb.shape[:2], settings.coarse_thresh, settings.sam_mask_coff,
                                       frame=predictor.model.prompt_encoder.mask_input_size[0])
        boxes = predictor.transform.apply_boxes_torch(found.boxes.float().to(predictor.device), down_hw)
        points = predictor.transform.apply_coords_torch(found.points.float().to(predictor.device), down_hw)
        points = points.unsqueeze(1)
        _, iou, logits = predictor.predict_torch(point_coords=points,
                                                 point_labels=torch.ones(len(points), 1, device=predictor.device),
                                                 boxes=boxes, mask_input=dense, multimask_output=False)
        valid = (iou[:, 0] > settings.sam_iou_thresh).cpu()  # component masks live on the CPU
        if not bool(valid.all()):
            failed.append(found.masks[~valid])
        if bool(valid.any()):
            low_res.append(logits[valid.to(logits.device)])
            mask_class += [c] * int(valid.sum())
    if not low_res:
        return labels, probs
    logits = predictor.model.postprocess_masks(torch.cat(low_res), predictor.input_size, predictor.original_size)
    logits = F.interpolate(logits, size=rgb.shape[:2], mode="bilinear", align_corners=False)[:, 0]
    refined, scores = refinement.merge_refined(logits.sigmoid(), logits > predictor.model.mask_threshold,
                                               torch.tensor(mask_class, device=probs.device), probs, labels[None])
    if failed:
        failed_full = F.interpolate(torch.cat(failed)[None].float().to(probs.device), size=rgb.shape[:2],
                                    mode="nearest")[0].bool()
        refined, scores = refinement.keep_coarse_where_refinement_failed(refined, scores, failed_full, probs,
                                                                         labels[None])
    return refined[0], scores
