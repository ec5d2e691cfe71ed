"""The DPMs-ANT adaptor module: official key layout and parameter count, both initialisations, attention maths."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.methods.dpms_ant.adaptor import Adaptor, AdaptorConfig, expected_output_rms

OFFICIAL_KEYS = {  # model/adapter_utils/adapter.py (65f00ba) Adapter.state_dict() keys, temb_proj only with temb
    "norm1.weight", "norm1.bias", "down_conv.weight", "down_conv.bias", "up_conv.weight", "up_conv.bias",
    "norm2.weight", "norm2.bias", "temb_proj.weight", "temb_proj.bias",
    "attention_block.norm1.weight", "attention_block.norm1.bias", "attention_block.attn.qkv.weight",
    "attention_block.attn.qkv.bias", "attention_block.attn.proj.weight", "attention_block.attn.proj.bias",
    "attention_block.norm2.weight", "attention_block.norm2.bias", "attention_block.mlp.fc1.weight",
    "attention_block.mlp.fc1.bias", "attention_block.mlp.fc2.weight", "attention_block.mlp.fc2.bias",
}


def hand_count(c_in: int, c_out: int, temb: int | None, d: int) -> int:
    """norm1 + down_conv + temb_proj + transformer block (2 LayerNorms, qkv, proj, MLP 4d) + norm2 + up_conv."""
    block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (4 * d * d + 4 * d) + (4 * d * d + d)
    return (2 * c_in + 9 * c_in * d + d + (temb * d + d if temb else 0) + block + 2 * d + 9 * d * c_out + c_out)


def test_official_key_layout_and_parameter_count():
    adaptor = Adaptor(64, 32, 128, AdaptorConfig(dim=8, num_heads=2))
    assert set(adaptor.state_dict()) == OFFICIAL_KEYS
    assert sum(p.numel() for p in adaptor.parameters()) == hand_count(64, 32, 128, 8) == 9000
    no_temb = Adaptor(64, 64, None, AdaptorConfig(dim=8))
    assert set(no_temb.state_dict()) == OFFICIAL_KEYS - {"temb_proj.weight", "temb_proj.bias"}
    assert tuple(adaptor.down_conv.weight.shape) == (8, 64, 3, 3)
    assert tuple(adaptor.up_conv.weight.shape) == (32, 8, 3, 3)
    assert adaptor.norm1.num_groups == 32 and adaptor.norm2.num_groups == 2
    assert isinstance(Adaptor(3, 3, None, AdaptorConfig(dim=8)).norm1, torch.nn.BatchNorm2d)  # odd channels


def test_official_init_scale_and_output_size():
    torch.manual_seed(0)
    cfg = AdaptorConfig(dim=32)
    adaptor = Adaptor(128, 128, 512, cfg).eval()
    layers = [m for m in adaptor.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    weights = torch.cat([m.weight.flatten() for m in layers])
    assert weights.std().item() == pytest.approx(2e-4, rel=0.01)
    biases = [m.bias for m in layers]
    assert all(torch.count_nonzero(b) == 0 for b in biases)
    with torch.no_grad():
        out = adaptor(torch.randn(2, 128, 32, 32), torch.randn(2, 512))
    rms = out.pow(2).mean().sqrt().item()
    # norm2 renormalises the tokens, so up_conv sums 9·dim unit-scale inputs: RMS ≈ 2e-4·sqrt(288) = 3.39e-3
    assert expected_output_rms(cfg) == pytest.approx(3.394e-3, rel=1e-3)
    assert 0.8 * expected_output_rms(cfg) < rms < 1.05 * expected_output_rms(cfg)


def test_zeros_init_gives_zero_output_and_a_gradient_to_up_conv():
    torch.manual_seed(0)
    adaptor = Adaptor(32, 32, 128, AdaptorConfig(dim=8, init="zeros"))
    out = adaptor(torch.randn(2, 32, 8, 8), torch.randn(2, 128))
    assert torch.count_nonzero(out) == 0
    (out * torch.randn_like(out)).sum().backward()
    assert adaptor.up_conv.weight.grad.abs().sum() > 0 and adaptor.up_conv.bias.grad.abs().sum() > 0
    assert adaptor.down_conv.weight.grad.abs().sum() == 0  # behind the zero projection on the first step


def test_self_attention_matches_direct_computation():
    torch.manual_seed(0)
    adaptor = Adaptor(16, 16, None, AdaptorConfig(dim=8, num_heads=2, init="official", init_std=0.3)).eval()
    attn = adaptor.attention_block.attn
    tokens = torch.randn(2, 5, 8)
    q, k, v = attn.qkv(tokens).reshape(2, 5, 3, 2, 4).permute(2, 0, 3, 1, 4)
    expected = attn.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 5, 8))
    with torch.no_grad():
        assert (attn(tokens) - expected).abs().max().item() < 1e-6
        assert expected.abs().mean().item() > 0.1  # a non-trivial case


def test_bad_inputs_and_configs_are_clear_errors():
    adaptor = Adaptor(32, 32, None, AdaptorConfig(dim=8))
    with pytest.raises(ValueError, match=r"adaptor input 6x8 is not divisible by patch_size 4"):
        adaptor(torch.randn(1, 32, 6, 8))
    with pytest.raises(ValueError, match="no time-embedding projection"):
        adaptor(torch.randn(1, 32, 8, 8), torch.randn(1, 16))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['width'\]"):
        AdaptorConfig.from_dict({"width": 8})
    with pytest.raises(ValueError, match="multiple of 4"):
        AdaptorConfig(dim=6)
    with pytest.raises(ValueError, match="not one of"):
        AdaptorConfig(init="normal")
