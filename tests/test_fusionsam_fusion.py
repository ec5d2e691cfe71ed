"""FusionSAM's fusion network and fused image: window attention and shapes at odd sizes, the shift mask, the
SwinFusion losses and the Lab round trip (bench.methods.fusionsam.fusion)."""
import pytest
import torch

from bench.methods.fusionsam.fusion import (SwinBlock, SwinFusion, WindowAttention, fused_image, fusion_loss,
                                            lab_to_rgb, rgb_to_lab, shift_mask, sobel_magnitude, visible_luminance,
                                            window_partition, window_reverse)

SMALL = dict(embed_dim=16, depths=(1, 2, 1), num_heads=(2, 2, 2), window_size=8, mlp_ratio=2.0)


def test_window_partition_round_trip_and_order():
    x = torch.arange(2 * 16 * 8 * 3, dtype=torch.float32).reshape(2, 16, 8, 3)
    windows = window_partition(x, 8)
    assert windows.shape == (4, 64, 3)
    assert torch.equal(windows[1].reshape(8, 8, 3), x[0, 8:16])  # image 0, second window row
    assert torch.equal(window_reverse(windows, 8, 16, 8), x)


def test_shift_mask_blocks_tokens_from_different_regions_only():
    mask = shift_mask(16, 16, 8, 4, torch.device("cpu"))
    assert mask.shape == (4, 64, 64)
    assert set(mask.unique().tolist()) == {-100.0, 0.0}
    assert (mask[0] == 0).all()  # the top-left window holds one region
    assert (mask[3] == -100).sum() == 64 * 64 - 4 * 16 * 16  # last window: four 4x4 regions


def test_window_attention_self_and_cross_shapes():
    attention = WindowAttention(dim=12, window=4, num_heads=3)
    x, context = torch.randn(6, 16, 12), torch.randn(6, 16, 12)
    assert attention(x).shape == (6, 16, 12)
    assert attention(x, context).shape == (6, 16, 12)
    assert not torch.allclose(attention(x), attention(x, context))
    with pytest.raises(ValueError, match="embed_dim 10 is not divisible by num_heads 3"):
        WindowAttention(dim=10, window=4, num_heads=3)


def test_shifted_block_equals_unshifted_when_the_map_fits_one_window():
    torch.manual_seed(0)
    shifted = SwinBlock(8, 2, window=8, shifted=True, mlp_ratio=2.0)
    plain = SwinBlock(8, 2, window=8, shifted=False, mlp_ratio=2.0)
    plain.load_state_dict(shifted.state_dict())
    x = torch.randn(1, 8, 8, 8)
    assert torch.equal(shifted(x), plain(x))  # Swin: no shift when min(H, W) <= window
    big = torch.randn(1, 16, 16, 8)
    assert not torch.allclose(shifted(big), plain(big))


@pytest.mark.parametrize("size", [(13, 11), (19, 8), (1, 1), (16, 24)])
def test_fusion_shapes_at_odd_sizes(size):
    torch.manual_seed(0)
    net = SwinFusion(in_channels=4, **SMALL)
    vis, inf = torch.randn(2, 4, *size), torch.randn(2, 4, *size)
    assert net(vis, inf).shape == (2, 1, *size)
    assert net.fused_features(vis, inf).shape == (2, 16, *size)


def test_fusion_output_depends_on_both_modalities_and_rejects_mismatch():
    torch.manual_seed(0)
    net = SwinFusion(in_channels=4, **SMALL)
    vis, inf = torch.randn(1, 4, 13, 11), torch.randn(1, 4, 13, 11)
    out = net(vis, inf)
    assert not torch.allclose(out, net(vis, inf + 1)) and not torch.allclose(out, net(vis + 1, inf))
    with pytest.raises(ValueError, match=r"visible latents \(1, 4, 13, 11\) and infrared latents \(1, 4, 12, 11\)"):
        net(vis, inf[..., :12, :])
    with pytest.raises(ValueError, match="need at least 3 stages"):
        SwinFusion(in_channels=4, depths=(1, 1), num_heads=(2, 2))


def test_official_default_sizes():
    net = SwinFusion(in_channels=4)
    assert len(net.extract_vis) == 6 and len(net.cross_vis) == 6 and [len(s) for s in net.reconstruct] == [6, 6]
    assert net.embed_vis.out_channels == 60 and net.cross_vis[0].attn.num_heads == 6 and net.window == 8
    assert net.cross_vis[0].mlp[0].out_features == 120


def test_fusion_loss_terms_on_known_images():
    vis = torch.full((1, 1, 6, 6), 0.2)
    inf = torch.full((1, 1, 6, 6), 0.7)
    terms = fusion_loss(torch.full((1, 1, 6, 6), 0.5), vis, inf, intensity=2.0, gradient=3.0)
    assert terms["intensity"].item() == pytest.approx(0.2, abs=1e-6) and terms["gradient"].item() < 1e-6
    assert terms["loss"].item() == pytest.approx(0.4, abs=1e-5)
    step = torch.zeros(1, 1, 5, 5)
    step[..., 3:] = 1.0
    grad = sobel_magnitude(step)
    assert grad[0, 0, 2].tolist() == [0.0, 0.0, 4.0, 4.0, 0.0]  # |dx| of a vertical edge, replicate-padded


def test_lab_matches_known_values_and_round_trips():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]).T.reshape(1, 3, 3, 1)
    lab = rgb_to_lab(rgb)[0, :, :, 0].T
    assert lab[0].tolist() == pytest.approx([100.0, 0.0, 0.0], abs=0.01)
    assert lab[1].tolist() == pytest.approx([53.24, 80.09, 67.20], abs=0.05)  # sRGB red, D65 (OpenCV's values)
    assert lab[2].tolist() == pytest.approx([0.0, 0.0, 0.0], abs=1e-4)
    image = torch.rand(2, 3, 7, 5)
    assert (lab_to_rgb(rgb_to_lab(image)) - image).abs().max() < 1e-4


def test_fused_image_keeps_visible_chroma_and_takes_the_fused_luminance():
    visible = torch.randint(0, 256, (1, 3, 8, 6)).float()
    own = visible_luminance(visible)
    assert (fused_image(own, visible) - visible).abs().max() < 0.05  # its own luminance gives the image back
    grey = torch.full((1, 3, 8, 6), 90.0)  # no chroma: the fused luminance alone sets the pixels
    luminance = torch.tensor([[[[0.0, 0.5, 1.0]]]]).expand(1, 1, 4, 3)  # upsampled to 8x6
    out = fused_image(luminance, grey)
    assert out.shape == (1, 3, 8, 6)
    assert out[0, :, :, 0].max() < 0.01 and out[0, :, :, -1].min() > 254.99  # L 0 -> black, L 100 -> white
    assert torch.allclose(out[0, 0], out[0, 2], atol=0.01)  # still grey
