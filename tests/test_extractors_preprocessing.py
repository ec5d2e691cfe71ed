import pytest
import torch

from bench.tasks.generation.extractors.clip_score import CLIP_PREPROCESSING
from bench.tasks.generation.extractors.preprocessing import CLIP_MEAN, CLIP_STD, check_images, pick_preset
from bench.tasks.generation.extractors.sscd import SSCD_PREPROCESSING


def pattern(h: int, w: int) -> torch.Tensor:
    """uint8 [h, w, 3] with value (row + 2 col + 50 channel) mod 256: every pixel's origin is recognisable."""
    rows, cols, chans = torch.meshgrid(torch.arange(h), torch.arange(w), torch.arange(3), indexing="ij")
    return ((rows + 2 * cols + 50 * chans) % 256).to(torch.uint8)


def test_wen_crops_the_centre_and_normalises_to_minus_one_one_by_hand():
    # 256 x 320: the shorter side is already 256, so Resize(256) keeps it; CenterCrop(224) starts at row
    # round((256 - 224) / 2) = 16 and column round((320 - 224) / 2) = 48; then (x / 255 - 0.5) / 0.5
    image = pattern(256, 320)
    out = SSCD_PREPROCESSING["wen"](image[None])
    expected = (image[16:240, 48:272].permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    assert out.shape == (1, 3, 224, 224) and out.dtype == torch.float32
    assert torch.allclose(out[0], expected, atol=1e-6)


def test_wen_resizes_the_shorter_side_with_pils_antialiased_bilinear_by_hand():
    # 512 x 512, columns < 256 are 0 and the rest 200. Halving with PIL's bilinear (triangle of support 2 input
    # pixels) weighs input columns 2i-1, 2i, 2i+1, 2i+2 by 1/8, 3/8, 3/8, 1/8: output column 127 sees 0, 0, 0, 200
    # -> 25, column 128 sees 0, 200, 200, 200 -> 175. After the 224 crop (left 16) these are columns 111 and 112.
    image = torch.zeros(512, 512, 3, dtype=torch.uint8)
    image[:, 256:] = 200
    out = SSCD_PREPROCESSING["wen"](image[None])[0, 0]
    raw = ((out * 0.5 + 0.5) * 255).round()
    assert raw[:, 110].unique().tolist() == [0.0] and raw[:, 111].unique().tolist() == [25.0]
    assert raw[:, 112].unique().tolist() == [175.0] and raw[:, 113].unique().tolist() == [200.0]


def test_shorter_side_resize_keeps_the_aspect_and_lists_of_sizes_batch_after_the_crop():
    # 384 x 512 constant 51 -> 256 x 341 (torchvision: int(256 * 512 / 384) = 341) -> 224 x 224, value 51 / 255 = 0.2
    images = [torch.full((384, 512, 3), 51, dtype=torch.uint8), torch.full((300, 300, 1), 51, dtype=torch.uint8)]
    out = SSCD_PREPROCESSING["wen"](images)
    assert out.shape == (2, 3, 224, 224)
    assert torch.allclose(out, torch.full_like(out, (0.2 - 0.5) / 0.5), atol=1e-6)  # grey repeated to RGB


def test_amg_presets_resize_to_a_square_without_normalising():
    image = torch.full((300, 200, 3), 102, dtype=torch.uint8)
    for name in ("amg", "amg_tensor"):
        out = SSCD_PREPROCESSING[name](image[None])
        assert out.shape == (1, 3, 224, 224) and torch.allclose(out, torch.full_like(out, 0.4), atol=1e-6)
    # amg_tensor is F.interpolate without antialias: halving 448 columns averages columns 2i and 2i + 1 only
    # (sample point 2i + 0.5), so alternating 0 / 200 columns give 100 everywhere
    stripes = torch.zeros(448, 448, 3, dtype=torch.uint8)
    stripes[:, 1::2] = 200
    out = SSCD_PREPROCESSING["amg_tensor"](stripes[None])
    assert torch.allclose(out, torch.full_like(out, 100 / 255), atol=1e-6)


def test_open_clip_preset_matches_open_clips_own_eval_transform():
    import open_clip
    from PIL import Image

    assert open_clip.constants.OPENAI_DATASET_MEAN == CLIP_MEAN and open_clip.constants.OPENAI_DATASET_STD == CLIP_STD
    image = pattern(300, 260)
    theirs = open_clip.image_transform(224, is_train=False)(Image.fromarray(image.numpy()))
    assert torch.equal(CLIP_PREPROCESSING["open_clip"](image[None])[0], theirs)


def test_bad_images_and_unknown_presets_get_clear_errors():
    with pytest.raises(ValueError, match=r"uint8 \[B, H, W, C\] with C = 1 or 3, got torch.float32"):
        check_images(torch.zeros(1, 8, 8, 3))
    with pytest.raises(ValueError, match=r"images\[1\] must be a uint8 \[H, W, C\]"):
        check_images([torch.zeros(8, 8, 3, dtype=torch.uint8), torch.zeros(8, 8, 4, dtype=torch.uint8)])
    with pytest.raises(ValueError, match=r"unknown preprocessing 'wne'; one of .* Did you mean 'wen'"):
        pick_preset(SSCD_PREPROCESSING, "wne", "SSCDFeatures")
    assert SSCD_PREPROCESSING["wen"](torch.zeros(0, 8, 8, 3, dtype=torch.uint8)).shape == (0, 3, 224, 224)
