"""Trident's test-pipeline resize and coarse prediction wired through tiny random stock CLIP / DINO / SAM (CPU)."""
import numpy as np
import pytest
import torch

from bench.methods.trident.pipeline import (TridentModels, TridentSettings, clip_input, coarse_predict,
                                            keep_ratio_size, resize_uint8)
from bench.methods.trident.precision import StagePrecision

open_clip = pytest.importorskip("open_clip")
segment_anything = pytest.importorskip("segment_anything")

TINY = TridentSettings(short_side=40, slide_crop=32, slide_stride=16, window_pad=8)


def tiny_models(num_queries=4, query_index=(0, 0, 1, 2)) -> TridentModels:
    import timm
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    torch.manual_seed(0)
    clip = open_clip.CLIP(embed_dim=16, vision_cfg=dict(image_size=32, layers=2, width=32, patch_size=8,
                                                        head_width=16),
                          text_cfg=dict(context_length=8, vocab_size=100, width=16, heads=2, layers=1))
    dino = timm.models.VisionTransformer(img_size=32, patch_size=8, embed_dim=24, depth=2, num_heads=2,
                                         num_classes=0)
    sam = Sam(ImageEncoderViT(img_size=64, patch_size=16, embed_dim=32, depth=2, num_heads=2, out_chans=16,
                              use_rel_pos=True, window_size=2, global_attn_indexes=(1,)),
              PromptEncoder(embed_dim=16, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=4),
              MaskDecoder(transformer_dim=16, transformer=TwoWayTransformer(depth=1, embedding_dim=16, num_heads=2,
                                                                            mlp_dim=32), iou_head_hidden_dim=16))
    text = torch.nn.functional.normalize(torch.randn(num_queries, 16), dim=-1)
    return TridentModels(clip, dino, sam, text, list(query_index), precision=StagePrecision.parse("fp32"))


def test_test_pipeline_scale_follows_mmcv_rescale():
    assert keep_ratio_size(375, 500, 448) == (448, 597)
    assert keep_ratio_size(1024, 2048, 688) == (688, 1376)
    assert keep_ratio_size(4, 5, 2) == (2, 3)  # mmcv's int(5 * 0.5 + 0.5) = 3 where round(2.5) gives 2
    assert keep_ratio_size(5, 7, 3) == (3, 4)  # factor 3/5: int(3.0 + 0.5), int(4.2 + 0.5)
    assert clip_input(np.zeros((30, 40, 3), np.uint8), 40).shape == (1, 3, 40, 53)


def test_resize_is_cv2_inter_linear_with_its_half_up_fixed_point_rounding():
    """1x3 -> 1x2 by hand: source x = (x' + 0.5) * 1.5 - 0.5 = 0.25, 1.75, weights exact in cv2's 11-bit fixed
    point, halves rounded up: R (0, 2, 5) -> (0.5, 4.25) -> (1, 4), where a float kernel rounded half-to-even
    gives 0; G (10, 13, 20) -> (10.75, 18.25); B (255, 100, 1) -> (216.25, 25.75)."""
    import cv2

    tiny = np.array([[[0, 10, 255], [2, 13, 100], [5, 20, 1]]], np.uint8)
    assert resize_uint8(tiny, (1, 2)).transpose(2, 0, 1).tolist() == [[[1, 4]], [[11, 18]], [[216, 26]]]
    odd = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    expected = cv2.resize(odd, (4, 3), interpolation=cv2.INTER_LINEAR)  # keep_ratio_size(5, 7, 3) == (3, 4)
    np.testing.assert_array_equal(resize_uint8(odd, keep_ratio_size(5, 7, 3)), expected)
    normalised = (torch.from_numpy(expected).permute(2, 0, 1).float() - torch.tensor([122.771, 116.746, 104.094])
                  .view(3, 1, 1)) / torch.tensor([68.501, 66.632, 70.323]).view(3, 1, 1)
    assert torch.equal(clip_input(odd, 3), normalised[None])  # resize on uint8 first, then float and normalise


@pytest.mark.seg
@pytest.mark.parametrize(("height", "width", "short_side"), [(375, 500, 448), (481, 321, 576), (7, 11, 5),
                                                              (1024, 2048, 560)])
def test_clip_input_equals_mmseg_resize_and_the_official_preprocessor(height, width, short_side):
    """The official test pipeline on the BGR image: mmseg Resize(scale=(2048, S), keep_ratio=True), then the
    SegDataPreProcessor of the official Trident (its mean/std and bgr_to_rgb)."""
    pytest.importorskip("mmseg")
    from mmseg.datasets.transforms import Resize
    from mmseg.models.data_preprocessor import SegDataPreProcessor

    rgb = np.random.default_rng(height).integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    resized = Resize(scale=(2048, short_side), keep_ratio=True)({"img": bgr})["img"]
    np.testing.assert_array_equal(resize_uint8(rgb, keep_ratio_size(height, width, short_side)), resized[..., ::-1])
    preprocessor = SegDataPreProcessor(mean=[122.771, 116.746, 104.094], std=[68.501, 66.632, 70.323],
                                       bgr_to_rgb=True)
    packed = torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1)))
    official = preprocessor({"inputs": [packed], "data_samples": None}, training=False)["inputs"]
    assert torch.equal(clip_input(rgb, short_side), official)


def test_coarse_prediction_shapes_probabilities_and_determinism():
    models = tiny_models()
    rgb = np.random.default_rng(0).integers(0, 256, size=(50, 70, 3), dtype=np.uint8)
    probs, labels = coarse_predict(models, TINY, rgb)
    assert probs.shape == (3, 50, 70) and labels.shape == (50, 70)  # 4 queries, background synonyms merged
    assert torch.equal(labels, probs.argmax(0)) and float(probs.sum(0).max()) <= 1 + 1e-5
    again, labels_again = coarse_predict(models, TINY, rgb)
    assert torch.equal(again, probs) and torch.equal(labels_again, labels)


def test_settings_change_the_prediction_and_cityscapes_halves_run():
    models = tiny_models()
    rgb = np.random.default_rng(1).integers(0, 256, size=(40, 80, 3), dtype=np.uint8)
    base, _ = coarse_predict(models, TINY, rgb)
    other, _ = coarse_predict(models, TridentSettings(**{**TINY.__dict__, "cos_fac": 0.0}), rgb)
    assert not torch.allclose(base, other)
    halves, labels = coarse_predict(models, TridentSettings(**{**TINY.__dict__, "sam_per_half": True}), rgb)
    assert halves.shape == (3, 40, 80) and labels.shape == (40, 80)


def coarse_example():
    labels = torch.zeros(40, 60, dtype=torch.long)
    labels[5:25, 10:40] = 1
    labels[28:38, 45:58] = 2
    probs = torch.full((3, 40, 60), 0.05)
    for c in range(3):
        probs[c][labels == c] = 0.9
    return labels, probs


def test_refinement_accepting_every_mask_relabels_only_where_masks_cover():
    from bench.methods.trident.pipeline import RefinementSettings, refine_prediction

    models = tiny_models()
    rgb = np.random.default_rng(2).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    models.predictor.set_image(rgb)
    labels, probs = coarse_example()
    accept_all = RefinementSettings(coarse_thresh=0.2, minimal_area=4, sam_iou_thresh=-1e9)
    refined, scores = refine_prediction(models, accept_all, rgb, rgb, labels, probs)
    assert refined.shape == (40, 60) and scores.shape == (3, 40, 60)
    covered = scores.sum(0) > 0
    assert covered.any() and not covered.all()
    assert torch.equal(refined[~covered], labels[~covered])  # no SAM mask: the coarse label stays
    assert torch.equal(refined[covered], scores.argmax(0)[covered])
    again, _ = refine_prediction(models, accept_all, rgb, rgb, labels, probs)
    assert torch.equal(again, refined)


def test_refinement_rejecting_every_mask_returns_the_coarse_prediction():
    from bench.methods.trident.pipeline import RefinementSettings, refine_prediction

    models = tiny_models()
    rgb = np.random.default_rng(3).integers(0, 256, size=(40, 60, 3), dtype=np.uint8)
    labels, probs = coarse_example()
    reject_all = RefinementSettings(coarse_thresh=0.2, minimal_area=4, sam_iou_thresh=1e9)
    refined, scores = refine_prediction(models, reject_all, rgb, rgb, labels, probs)  # sets the image itself
    assert refined is labels and scores is probs
