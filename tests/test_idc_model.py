"""IDC's U-Net presets and the authors' checkpoint layout (bench.methods.idc.model)."""
from __future__ import annotations

import pytest
import torch

from bench.checkpoint import CheckpointError
from bench.methods.diffusion.adm import ADMUNet
from bench.methods.idc.model import BRIDGE_DEFAULTS, build_idc, load_idc_checkpoint, unet_config

from idc_fixture import TINY_UNET


@pytest.mark.parametrize("preset, expected", [("cifar10", 9_393_475), ("cifar100", 42_843_971)])
def test_presets_have_the_official_parameter_counts(preset, expected):
    # the sheet's derived 9.39 M / 42.84 M; equal to the official UNetModel built from the templates (checked
    # once against hfmei/IDC's class: identical keys, shapes and outputs)
    with torch.device("meta"):
        unet = ADMUNet(**unet_config(preset))
    assert sum(p.numel() for p in unet.parameters()) == expected
    assert unet_config(preset)["dropout"] == 0.3  # latent-diffusion's UNetModel default, which the templates keep


def test_attention_resolutions_are_downsample_rates_so_only_the_middle_block_attends():
    with torch.device("meta"):
        unet = ADMUNet(**unet_config("cifar100"))
    attention = [name for name, module in unet.named_modules() if type(module).__name__ == "AttentionBlock"]
    assert attention == ["middle_block.1"]


def test_unknown_preset_is_refused():
    with pytest.raises(ValueError, match="cifar10"):
        unet_config("cifar1000")


def _official_layout(model, ema_offset: float = 0.5) -> dict:
    ema = {name: param.detach() + ema_offset for name, param in model.named_parameters()}
    return {"epoch": 400, "step": 78000, "model": model.state_dict(), "ema": ema}


def test_checkpoint_loads_the_ema_weights_over_the_model(tmp_path):
    torch.manual_seed(0)
    source = build_idc(TINY_UNET)
    path = tmp_path / "latest_model_400.pth"
    torch.save(_official_layout(source), path)
    target = build_idc(TINY_UNET)
    facts = load_idc_checkpoint(target, path, use_ema=True)
    assert (facts["weights"], facts["epoch"], facts["step"]) == ("ema", 400, 78000)
    name, param = next(iter(source.named_parameters()))
    torch.testing.assert_close(dict(target.named_parameters())[name], param + 0.5)
    torch.testing.assert_close(target.m_t, source.m_t)  # the schedule buffers come from 'model'
    raw = build_idc(TINY_UNET)
    assert load_idc_checkpoint(raw, path, use_ema=False)["weights"] == "model"
    torch.testing.assert_close(dict(raw.named_parameters())[name], param)


def test_checkpoint_errors_name_the_file_and_the_layout(tmp_path):
    torch.manual_seed(0)
    model = build_idc(TINY_UNET)
    flat = tmp_path / "flat.pth"
    torch.save(model.state_dict(), flat)
    with pytest.raises(CheckpointError, match="flat.pth: expected IDC's checkpoint layout"):
        load_idc_checkpoint(build_idc(TINY_UNET), flat)
    other = tmp_path / "other.pth"
    torch.save(_official_layout(build_idc({**TINY_UNET, "channel_mult": (1, 2)})), other)
    with pytest.raises(CheckpointError, match="(?s)unexpected keys.*U-Net preset"):
        load_idc_checkpoint(build_idc(TINY_UNET), other)
    no_ema = tmp_path / "no_ema.pth"
    torch.save({"model": model.state_dict()}, no_ema)
    with pytest.raises(CheckpointError, match="use_ema=False"):
        load_idc_checkpoint(build_idc(TINY_UNET), no_ema)


def test_build_applies_the_official_init_and_bridge_defaults():
    torch.manual_seed(0)
    model = build_idc(TINY_UNET)
    assert model.steps == [3, 1, 1, 0] and model.num_timesteps == BRIDGE_DEFAULTS["num_timesteps"]
    # weights_init re-draws the zero-initialised output conv with N(0, 0.02)
    out = model.denoise_fn.out[-1].weight
    assert out.abs().sum() > 0 and out.std().item() == pytest.approx(0.02, rel=0.3)
