"""MM_VSSD: the official downstream keywords map onto VSSDBackbone; registration in mmseg/mmdet (seg extra)."""
import pytest
import torch

from bench.methods.vssd.dense import MMVSSD, register_mm_vssd
from bench.methods.vssd.model import VSSDBackbone

TINY_OFFICIAL = dict(embed_dim=16, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8), d_state=8, drop_path_rate=0.0,
                     ssd_expand=2, ssd_positve_dA=True, ssd_chunk_size=256, simple_downsample=False,
                     simple_patch_embed=False, linear_attn_duality=True, bidirection=False,
                     attn_types=["mamba2", "mamba2", "mamba2", "standard"])


def test_official_keywords_build_the_same_backbone():
    torch.manual_seed(0)
    ours = MMVSSD(**TINY_OFFICIAL)
    reference = VSSDBackbone(embed_dim=16, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8), d_state=8,
                             ssd_expansion=2, positive_dA=True)
    assert ours.state_dict().keys() == reference.state_dict().keys()
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(1, 3, 70, 45)
    with torch.no_grad():
        for a, b in zip(ours.eval()(x), reference.eval()(x), strict=True):
            assert torch.equal(a, b)


def test_attention_everywhere_maps_attn_types():
    model = MMVSSD(**{**TINY_OFFICIAL, "attn_types": ["standard"] * 4})
    assert all(hasattr(stage.blocks[0].attn, "to_qkv") for stage in model.layers)


@pytest.mark.parametrize("switch", ["simple_downsample", "simple_patch_embed", "bidirection"])
def test_unreleased_switches_raise(switch):
    with pytest.raises(ValueError, match="released configs only"):
        MMVSSD(**{**TINY_OFFICIAL, switch: True})
    with pytest.raises(ValueError, match="released configs only"):
        MMVSSD(**{**TINY_OFFICIAL, "linear_attn_duality": False})


def test_unknown_keyword_and_mixer_raise():
    with pytest.raises(TypeError, match="patch_size"):
        MMVSSD(**TINY_OFFICIAL, patch_size=4)
    with pytest.raises(ValueError, match="mamba"):
        MMVSSD(**{**TINY_OFFICIAL, "attn_types": ["mamba", "mamba2", "mamba2", "standard"]})


@pytest.mark.seg
def test_registered_in_mmseg_and_builds_from_the_official_dict():
    pytest.importorskip("mmseg")
    from mmseg.registry import MODELS

    assert "mmseg" in register_mm_vssd()
    backbone = MODELS.build(dict(type="MM_VSSD", out_indices=(0, 1, 2, 3), pretrained=None, **TINY_OFFICIAL))
    assert isinstance(backbone, MMVSSD)
    assert [f.shape[1] for f in backbone(torch.randn(1, 3, 64, 64))] == [16, 32, 64, 128]


@pytest.mark.seg
def test_registered_in_mmdet_and_feeds_an_fpn():
    pytest.importorskip("mmdet")
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    assert "mmdet" in register_mm_vssd()
    backbone = MODELS.build(dict(type="MM_VSSD", **TINY_OFFICIAL))
    # the official Mask R-CNN neck: in_channels = the four stage widths (E, 2E, 4E, 8E), 5 outputs
    neck = MODELS.build(dict(type="FPN", in_channels=[16, 32, 64, 128], out_channels=32, num_outs=5))
    outs = neck(backbone(torch.randn(1, 3, 96, 128)))
    assert [tuple(o.shape[-2:]) for o in outs] == [(24, 32), (12, 16), (6, 8), (3, 4), (2, 2)]
