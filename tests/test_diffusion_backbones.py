"""Denoiser backbones: an improved-diffusion checkpoint is fed the rescaled float timestep its preset asks for."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.methods.diffusion.adm import build_adm, iddpm_model_flags
from bench.methods.diffusion.backbones import build_backbone

FLAGS = iddpm_model_flags(image_size=8, in_channels=1, num_channels=32, num_res_blocks=1, channel_mult=(1, 2),
                          attention_resolutions="4", num_heads=1, learn_sigma=True)


def _checkpoint(path: Path) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_adm(FLAGS)
    with torch.no_grad():  # the zero-initialised output conv would make every timestep look alike
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    torch.save(model.state_dict(), path)
    return model.eval()


@pytest.mark.parametrize("rescale", [True, False])
def test_adm_backbone_honours_rescale_timesteps(tmp_path: Path, rescale: bool) -> None:
    model = _checkpoint(tmp_path / "ema_0.9999_000010.pt")
    process = {"steps": 4000, "noise_schedule": "cosine", "learn_sigma": True, "rescale_timesteps": rescale}
    backbone = build_backbone({"type": "adm", "checkpoint": str(tmp_path / "ema_0.9999_000010.pt"), "flags": FLAGS,
                               "diffusion": process}, respacing="250", device=torch.device("cpu"))
    assert backbone.diffusion.num_timesteps == 250 and backbone.sample_shape == (1, 8, 8)
    assert backbone.facts["diffusion"]["rescale_timesteps"] is rescale
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    t = backbone.diffusion.model_timesteps(37, 2, "cpu")  # original timestep 594 of 4000
    assert t.tolist() == [594, 594]
    fed = torch.full((2,), 594 * 1000 / 4000) if rescale else t  # improved-diffusion's _WrappedModel: 148.5
    with torch.no_grad():
        got, expected, other = backbone.denoise(x, t, None), model(x, fed), model(x, t if rescale else fed * 0.25)
    assert torch.equal(got, expected)
    assert (got - other).abs().max() > 1e-3  # the two feedings really differ for this model


def test_adm_backbone_without_rescale_flag_feeds_the_integer_timestep(tmp_path: Path) -> None:
    """guided-diffusion presets and a bare ``diffusion`` without the key keep the original int timestep."""
    model = _checkpoint(tmp_path / "weights.pt")
    backbone = build_backbone({"type": "adm", "checkpoint": str(tmp_path / "weights.pt"), "flags": FLAGS,
                               "diffusion": {"steps": 1000, "noise_schedule": "linear"}}, "10",
                              torch.device("cpu"))
    x, t = torch.randn(1, 1, 8, 8), torch.tensor([999])
    with torch.no_grad():
        assert torch.equal(backbone.denoise(x, t, None), model(x, t))
