"""DPMs-ANT adaptors in the DDPM UNet2DModel and the ADM U-Net: identity at zero init, small at official init,
gradients only to adaptors, trainable share by hand, adaptor files and their errors."""
from __future__ import annotations

import math

import pytest
import torch
from diffusers import UNet2DModel

from bench.checkpoint import CheckpointError
from bench.methods.diffusion.adm import ADMUNet
from bench.methods.diffusion.unet import ddpm_unet_config
from bench.methods.dpms_ant.adaptor import Adaptor, AdaptorConfig, expected_output_rms
from bench.methods.dpms_ant.backbones import (
    add_adaptors,
    adaptor_parameters,
    adaptor_state_dict,
    freeze_backbone,
    convert_official_adaptors,
    load_adaptors,
    official_adaptor_names,
    parameter_counts,
    save_adaptors,
    trainable_share,
)

DDPM_TINY = {"resolution": 16, "ch": 32, "ch_mult": (1, 2), "num_res_blocks": 1, "attn_resolutions": (8,),
             "dropout": 0.0}
ADM_TINY = {"image_size": 16, "in_channels": 3, "model_channels": 32, "out_channels": 6, "num_res_blocks": 1,
            "attention_resolutions": (2,), "channel_mult": (1, 2), "num_head_channels": 16,
            "use_scale_shift_norm": True, "resblock_updown": True}
DIM8 = AdaptorConfig(dim=8)


def _randomised(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere (a fresh ADM U-Net has zeroed output layers and would output zeros)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return model.eval()


def build(kind: str, **overrides):
    if kind == "ddpm":
        model = _randomised(UNet2DModel(**ddpm_unet_config(**{**DDPM_TINY, **overrides})))
        return model, lambda x, t: model(x, t).sample
    model = _randomised(ADMUNet(**{**ADM_TINY, **overrides}))
    return model, lambda x, t: model(x, t)


def inputs():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 16, 16, generator=generator), torch.tensor([10, 700])


@pytest.mark.parametrize("kind", ["ddpm", "adm"])
def test_zero_init_leaves_the_frozen_model_bit_identical(kind):
    model, forward = build(kind)
    x, t = inputs()
    with torch.no_grad():
        before = forward(x, t)
        add_adaptors(model, AdaptorConfig(dim=8, init="zeros"), seed=0)
        after = forward(x, t)
    assert torch.equal(before, after)
    assert all(torch.count_nonzero(p) > 0 for p in adaptor_parameters(model)
               if p.ndim == 4 and p.shape[-1] == 3 and p.shape[0] == 8)  # the down convs are not zero


@pytest.mark.parametrize("kind", ["ddpm", "adm"])
def test_official_init_changes_the_output_only_slightly(kind):
    model, forward = build(kind)
    x, t = inputs()
    with torch.no_grad():
        before = forward(x, t)
        n = len(add_adaptors(model, DIM8, seed=0))
        delta = forward(x, t) - before
    # each adaptor adds about rho = 2e-4·sqrt(9·dim) per element; n independent ones through a gain-<1 network
    rho = expected_output_rms(DIM8)
    rms = delta.pow(2).mean().sqrt().item()
    assert 0.1 * rho < rms < rho * math.sqrt(n)
    assert delta.abs().max().item() < 5 * rho * math.sqrt(n)


@pytest.mark.parametrize("kind", ["ddpm", "adm"])
def test_end_adaptor_alone_is_added_to_the_output(kind):
    model, forward = build(kind)
    x, t = inputs()
    add_adaptors(model, DIM8, seed=0)
    for name, module in model.named_modules():
        if isinstance(module, Adaptor) and name != "end_adaptor":
            torch.nn.init.zeros_(module.up_conv.weight)
    features = {}
    head = model.out if kind == "adm" else model.conv_norm_out
    handle = head.register_forward_pre_hook(lambda m, args: features.update(h=args[0]))
    with torch.no_grad():
        with_end = forward(x, t)
        end_out = model.end_adaptor(features["h"])
        torch.nn.init.zeros_(model.end_adaptor.up_conv.weight)
        plain = forward(x, t)
    handle.remove()
    assert torch.count_nonzero(end_out) > 0
    assert torch.allclose(with_end[:, :3], plain[:, :3] + end_out, atol=1e-7, rtol=0)
    if kind == "adm":  # learned variance channels are not adapted (official: ε channels only)
        assert tuple(end_out.shape[1:]) == (3, 16, 16) and torch.equal(with_end[:, 3:], plain[:, 3:])


def test_adm_resampling_resblock_feeds_its_adaptor_the_resampled_input():
    model, forward = build("adm")
    add_adaptors(model, DIM8, seed=0)
    seen = {}
    down = model.input_blocks[2][0]  # ResBlock(down=True): 16x16 in, 8x8 out
    up = model.output_blocks[1][2]  # ResBlock(up=True): 8x8 in, 16x16 out
    down.adaptor.register_forward_pre_hook(lambda m, args: seen.update(down=tuple(args[0].shape[2:])))
    up.adaptor.register_forward_pre_hook(lambda m, args: seen.update(up=tuple(args[0].shape[2:])))
    with torch.no_grad():
        forward(*inputs())
    assert seen == {"down": (8, 8), "up": (16, 16)}


@pytest.mark.parametrize("kind", ["ddpm", "adm"])
def test_only_adaptor_parameters_receive_gradients(kind):
    model, forward = build(kind)
    add_adaptors(model, DIM8, seed=0)
    freeze_backbone(model)
    model.train()
    x, t = inputs()
    forward(x, t).pow(2).sum().backward()
    own = {id(p) for p in adaptor_parameters(model)}
    backbone = [name for name, p in model.named_parameters() if id(p) not in own]
    assert backbone and all(p.grad is None and not p.requires_grad for n, p in model.named_parameters()
                            if id(p) not in own)
    grads = [p.grad for p in adaptor_parameters(model)]
    assert all(g is not None for g in grads)
    assert sum(int(torch.count_nonzero(g) > 0) for g in grads) == len(grads)


def _hand(c_in: int, c_out: int, temb: int | None, d: int = 8) -> int:
    block = 12 * d * d + 13 * d  # LayerNorm x2, qkv, proj, MLP of width 4d
    return 2 * c_in + 9 * c_in * d + d + (temb * d + d if temb else 0) + block + 2 * d + 9 * d * c_out + c_out


def test_trainable_share_equals_a_hand_count():
    model, _ = build("ddpm")
    backbone = sum(p.numel() for p in model.parameters())
    add_adaptors(model, DIM8, seed=0)
    freeze_backbone(model)
    # ch 32, ch_mult (1, 2), one resnet per level, attention at 8 px, time embedding 4·32 = 128:
    # resnets down (32→32), (32→64); mid (64→64) x2; up level 1 (64+64→64), (64+32→64); up level 0 (64+32→32),
    # (32+32→32); attention (64) down, mid and twice up; end adaptor 32 → 3 without time embedding.
    resnets = [(32, 32), (32, 64), (64, 64), (64, 64), (128, 64), (96, 64), (96, 32), (64, 32)]
    adaptors = sum(_hand(i, o, 128) for i, o in resnets) + 4 * _hand(64, 64, None) + _hand(32, 3, None)
    assert parameter_counts(model) == {"trainable": adaptors, "total": backbone + adaptors, "adaptor": adaptors}
    assert trainable_share(model) == adaptors / (backbone + adaptors)
    assert adaptors == 133_115  # 13 adaptors


@pytest.mark.parametrize("kind", ["ddpm", "adm"])
def test_adaptor_file_round_trip(kind, tmp_path):
    model, forward = build(kind)
    add_adaptors(model, DIM8, seed=0)
    path = save_adaptors(model, tmp_path / "adaptors.pt", facts={"iterations": 3})
    other, forward_other = build(kind)  # same backbone weights (same seed), adaptors added by the loader
    info = load_adaptors(other, path)
    saved = torch.load(path, weights_only=True)["state_dict"]
    assert set(saved) == set(adaptor_state_dict(model)) and all(".adaptor." in k or k.startswith("end_adaptor.")
                                                                  for k in saved)
    assert info["facts"] == {"iterations": 3} and info["adaptor"]["dim"] == 8
    x, t = inputs()
    with torch.no_grad():
        assert torch.equal(forward(x, t), forward_other(x, t))


def test_loading_adaptors_onto_another_config_is_a_clear_error(tmp_path):
    model, _ = build("ddpm")
    add_adaptors(model, DIM8, seed=0)
    path = save_adaptors(model, tmp_path / "adaptors.pt")
    wider, _ = build("ddpm", ch=64)
    with pytest.raises(CheckpointError, match=r"holds adaptors for another backbone:\n  file:  ddpm_unet .*"
                       r"'block_out_channels': \[32, 64\].*\n  model: ddpm_unet .*'block_out_channels': \[64, 128\]"):
        load_adaptors(wider, path)
    adm, _ = build("adm")
    with pytest.raises(CheckpointError, match=r"model: adm "):
        load_adaptors(adm, path)
    same, _ = build("ddpm")
    add_adaptors(same, AdaptorConfig(dim=16))
    with pytest.raises(CheckpointError, match=r"'dim': 8.*but the model's adaptors have \{'dim': 16"):
        load_adaptors(same, path)
    torch.save(model.state_dict(), tmp_path / "backbone.pt")
    with pytest.raises(CheckpointError, match="is not a DPMs-ANT adaptor file"):
        load_adaptors(build("ddpm")[0], tmp_path / "backbone.pt")


def test_misuse_is_a_clear_error():
    model, _ = build("ddpm")
    with pytest.raises(ValueError, match="has no DPMs-ANT adaptors: call add_adaptors"):
        freeze_backbone(model)
    add_adaptors(model, DIM8)
    with pytest.raises(ValueError, match="already has DPMs-ANT adaptors"):
        add_adaptors(model, DIM8)
    with pytest.raises(ValueError, match="got a Linear"):
        add_adaptors(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("kind", ["ddpm", "adm"])
def test_official_adaptor_names_and_conversion(kind):
    model, forward = build(kind)
    add_adaptors(model, DIM8, seed=0)
    names = official_adaptor_names(model)
    if kind == "ddpm":  # the original Model's paths (up[i] works at resolution / 2**i; diffusers runs it L-1-i-th)
        assert names["down_blocks.1.attentions.0.adaptor"] == "down.1.attn.0.adapter"
        assert names["up_blocks.0.resnets.1.adaptor"] == "up.1.block.1.adapter"
        assert names["mid_block.resnets.1.adaptor"] == "mid.block_2.adapter"
        assert names["mid_block.attentions.0.adaptor"] == "mid.attn_1.adapter"
        assert names["end_adaptor"] == "end_adapter"
    else:
        assert names["output_blocks.1.2.adaptor"] == "output_blocks.1.2.adapter"
        assert names["end_adaptor"] == "out_adapter"
    own = adaptor_state_dict(model)
    official = {"module.conv_in.weight": torch.zeros(1)}
    for key, tensor in own.items():
        module = max((n for n in names if key.startswith(f"{n}.")), key=len)
        official["module." + names[module] + key[len(module):]] = tensor + 1
    converted = convert_official_adaptors(official, model)
    assert set(converted) == set(own) and all(torch.equal(converted[k], own[k] + 1) for k in own)
    official.pop(next(k for k in official if k.endswith("up_conv.bias")))
    with pytest.raises(ValueError, match=r"official state dict does not hold this model's adaptors \(1 problems: "):
        convert_official_adaptors(official, model)


def test_adaptors_stay_float32_beside_an_fp16_adm_torso():
    model, forward = build("adm", use_fp16=True)  # convert_to_fp16 halves the torso's convs
    x, t = inputs()
    with torch.no_grad():
        before = forward(x, t)
        add_adaptors(model, AdaptorConfig(dim=8, init="zeros"), seed=0)
        assert torch.equal(forward(x, t), before)
        for parameter in adaptor_parameters(model):
            if parameter.ndim == 4 and parameter.shape[0] == 8:
                parameter.normal_(0.0, 0.05)  # make the down convs matter
        torch.nn.init.normal_(model.end_adaptor.up_conv.weight, 0.0, 2e-4)
        after = forward(x, t)
    assert {p.dtype for p in adaptor_parameters(model)} == {torch.float32}
    assert model.input_blocks[1][0].in_layers[2].weight.dtype == torch.float16
    assert after.dtype == torch.float32 and torch.isfinite(after).all() and not torch.equal(after, before)
