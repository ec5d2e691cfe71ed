"""Trident's intermediate tensors from stock open_clip / timm DINO / segment_anything modules (tiny, random)."""
import pytest
import torch
import torch.nn.functional as F

from bench.methods.trident.encoders import (SamLastAttention, clip_last_block_input, clip_project,
                                            dino_patch_features, interpolate_pos_embed)

open_clip = pytest.importorskip("open_clip")
segment_anything = pytest.importorskip("segment_anything")


def tiny_clip():
    torch.manual_seed(0)
    return open_clip.CLIP(embed_dim=16, vision_cfg=dict(image_size=32, layers=3, width=32, patch_size=8,
                                                        head_width=16),
                          text_cfg=dict(context_length=8, vocab_size=100, width=16, heads=2, layers=1)).eval()


def test_pos_embed_interpolation_uses_the_dino_scale_factor():
    pos = torch.randn(1, 1 + 16, 8)
    assert torch.equal(interpolate_pos_embed(pos, (4, 4)), pos)
    out = interpolate_pos_embed(pos, (6, 5))
    patches = pos[:, 1:].reshape(1, 4, 4, 8).permute(0, 3, 1, 2)
    expected = F.interpolate(patches, scale_factor=(6.1 / 4, 5.1 / 4), mode="bicubic")
    assert out.shape == (1, 31, 8) and torch.equal(out[:, 0], pos[:, 0])
    assert torch.allclose(out[:, 1:], expected.permute(0, 2, 3, 1).reshape(1, 30, 8))
    by_size = F.interpolate(patches, size=(6, 5), mode="bicubic").permute(0, 2, 3, 1).reshape(1, 30, 8)
    assert not torch.allclose(out[:, 1:], by_size, atol=1e-4)  # timm-style resizing samples elsewhere


def test_clip_last_block_input_equals_the_stock_forward():
    clip = tiny_clip()
    images = torch.randn(2, 3, 32, 32)
    seen = {}
    last = clip.visual.transformer.resblocks[-1]
    handle = last.register_forward_pre_hook(lambda module, args, kwargs: seen.update(x=args[0]), with_kwargs=True)
    with torch.no_grad():
        clip.visual(images)
        ours, grid = clip_last_block_input(clip.visual, images)
    handle.remove()
    stock = seen["x"] if clip.visual.transformer.batch_first else seen["x"].transpose(0, 1)
    assert grid == (4, 4) and torch.allclose(ours, last.ln_1(stock[:, 1:]), atol=1e-6)
    with torch.no_grad():
        larger, grid = clip_last_block_input(clip.visual, torch.randn(1, 3, 48, 40))
        assert grid == (6, 5) and larger.shape == (1, 30, 32)
        assert clip_project(clip.visual, larger).shape == (1, 30, 16)


def test_dino_patch_features_equal_timm_forward_features():
    import timm

    torch.manual_seed(1)
    vit = timm.models.VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                                        num_classes=0).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ours = dino_patch_features(vit, images)
        stock = vit.forward_features(images)[:, 1:]
        assert torch.allclose(ours.flatten(2).transpose(1, 2), stock, atol=1e-6)
        assert dino_patch_features(vit, torch.randn(1, 3, 56, 40)).shape == (1, 32, 7, 5)


def tiny_sam_encoder(last_global=True):
    from segment_anything.modeling import ImageEncoderViT

    torch.manual_seed(2)
    return ImageEncoderViT(img_size=64, patch_size=16, embed_dim=32, depth=2, num_heads=2, out_chans=16,
                           use_rel_pos=True, rel_pos_zero_init=False, window_size=2,
                           global_attn_indexes=(1,) if last_global else (0,)).eval()


def test_sam_probe_reproduces_the_last_attention_output():
    encoder = tiny_sam_encoder()
    probe = SamLastAttention(encoder)
    outputs = {}
    encoder.blocks[-1].attn.register_forward_hook(lambda module, args, out: outputs.update(out=out))
    with torch.no_grad():
        encoder(torch.randn(1, 3, 64, 64))
    attention, values = probe.attention, probe.values
    assert attention.shape == (1, 2, 16, 16) and values.shape == (1, 2, 4, 4, 16)
    assert torch.allclose(attention.sum(-1), torch.ones(1, 2, 16))
    mixed = (attention @ values.flatten(2, 3)).reshape(1, 2, 4, 4, 16).permute(0, 2, 3, 1, 4).reshape(1, 4, 4, 32)
    assert torch.allclose(encoder.blocks[-1].attn.proj(mixed), outputs["out"], atol=1e-6)
    probe.remove()
    with pytest.raises(ValueError, match="global attention"):
        SamLastAttention(tiny_sam_encoder(last_global=False))
