"""ConFiner's scheduler math: x̂0 <-> x_t between two schedules, T_e re-noising, the coordinated step against
diffusers' DDIMScheduler, the degenerate modes and NFE counts."""
import math

import pytest
import torch
from diffusers import DDIMScheduler, EulerDiscreteScheduler

from bench.methods.confiner.schedules import (Expert, NFEMeter, RefinementSettings, add_noise, convert,
                                              coordinated_step, ddim_step, nfe_per_video, predict_x0, refine,
                                              refinement_timesteps, renoise_structure)

SHAPE = (2, 4, 3, 6, 6)  # B, C, F, h, w


def sd_ddim():
    """SD 1.5's / ModelScope's schedule (scaled_linear 0.00085-0.012) as a DDIM scheduler (clip_sample off, as SD)."""
    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                         set_alpha_to_one=False)


def lightning_euler():
    """AnimateDiff-Lightning's scheduler: Euler, linear β, trailing spacing."""
    return EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear",
                                  timestep_spacing="trailing")


def eps_model(scale=1.0):
    """A fixed nonlinear ε-model on [B, C, F, h, w] mixing frames (a stand-in video UNet)."""
    weight = torch.randn(4, 4, generator=torch.Generator().manual_seed(3)) / 4

    def eps(x, t):
        mixed = torch.einsum("dc,bcfhw->bdfhw", weight, x) + x.roll(1, dims=2) * 0.1
        return torch.tanh(scale * mixed + t / 1000)
    return eps


def frames_eps(video_eps):
    """The same model taking frames [B·F, C, h, w] (an image-UNet layout) with F = 3."""
    def eps(x, t):
        v = x.reshape(-1, 3, *x.shape[1:]).permute(0, 2, 1, 3, 4)
        return video_eps(v, t).permute(0, 2, 1, 3, 4).reshape(x.shape)
    return eps


def latent(seed=0):
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_expert_alpha_bar_is_the_schedulers_cumprod_and_its_final_value():
    spatial = Expert.from_scheduler("spatial", eps_model(), sd_ddim())
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    assert spatial.alpha_bar(100) == pytest.approx(float(torch.cumprod(1 - betas, 0)[100]), rel=1e-6)
    assert spatial.alpha_bar(-1) == pytest.approx(1 - 0.00085, rel=1e-6)  # set_alpha_to_one=False: ᾱ_0
    assert Expert.from_scheduler("control", eps_model(), lightning_euler()).final_alpha_cumprod == 1.0
    with pytest.raises(ValueError, match=r"timestep 1000 is beyond its 1000-step schedule"):
        spatial.alpha_bar(1000)


def test_x0_xt_conversion_between_two_schedules_round_trips():
    spatial = Expert.from_scheduler("spatial", eps_model(), sd_ddim())
    control = Expert.from_scheduler("control", eps_model(), lightning_euler())
    assert abs(spatial.alpha_bar(500) - control.alpha_bar(500)) > 0.05  # two really different schedules
    x_t, eps = latent(0), latent(1)
    for t in (20, 100, 500, 999):
        there = convert(x_t, eps, t, spatial, control)
        assert torch.allclose(predict_x0(there, eps, control.alpha_bar(t)),
                              predict_x0(x_t, eps, spatial.alpha_bar(t)), atol=1e-9)  # x̂0 is the hinge
        assert torch.allclose(convert(there, eps, t, control, spatial), x_t, atol=1e-9)
    # with fresh noise the hinge x̂0 is kept and the noise replaced
    z = latent(2)
    there = convert(x_t, eps, 100, spatial, control, noise=z)
    assert torch.allclose(there, add_noise(predict_x0(x_t, eps, spatial.alpha_bar(100)), z, control.alpha_bar(100)))


def test_te_renoising_is_the_spatial_schedules_forward_formula():
    scheduler = sd_ddim()
    spatial = Expert.from_scheduler("spatial", eps_model(), scheduler)
    v0, noise = latent(0).float(), latent(1).float()
    a = float(scheduler.alphas_cumprod[100])
    out = renoise_structure(v0, 100, spatial, noise)
    assert torch.allclose(out, math.sqrt(a) * v0 + math.sqrt(1 - a) * noise)
    assert torch.allclose(out, scheduler.add_noise(v0, noise, torch.tensor([100])), atol=1e-6)
    with pytest.raises(ValueError, match=r"0 ≤ T_e < 1000; got 1000"):
        renoise_structure(v0, 1000, spatial, noise)


def test_refinement_timesteps_are_uniform_from_te_to_zero():
    assert refinement_timesteps(100, 5) == [(100, 80), (80, 60), (60, 40), (40, 20), (20, 0)]
    assert refinement_timesteps(100, 10)[-1] == (10, 0) and len(refinement_timesteps(300, 10)) == 10
    with pytest.raises(ValueError, match=r"1 ≤ T_i2 ≤ T_e .*got T_i2=5, T_e=4"):
        refinement_timesteps(4, 5)


@pytest.mark.parametrize("t", [100, 20])
def test_coordinated_step_with_identical_experts_is_a_diffusers_ddim_step(t):
    scheduler = sd_ddim()
    scheduler.set_timesteps(50)  # step 1000 // 50 = 20: t → t − 20, as refinement_timesteps(100, 5)
    model = eps_model()
    spatial = Expert.from_scheduler("spatial", frames_eps(model), scheduler, layout="frames")
    temporal = Expert.from_scheduler("temporal", model, scheduler)
    x = latent(0).float()
    meter = NFEMeter()
    out = coordinated_step(spatial, temporal, x, t, t - 20, meter, noise="predicted")
    peer = scheduler.step(model(x, t), t, x, eta=0.0).prev_sample
    assert torch.allclose(out, peer, atol=1e-5)
    assert torch.allclose(ddim_step(spatial, x, t, t - 20)[1], peer, atol=1e-5)
    assert meter.calls == {"spatial": 2, "temporal": 1}
    # the paper's fresh re-noising moves the result away from plain DDIM
    fresh = coordinated_step(spatial, temporal, x, t, t - 20, generator=torch.Generator().manual_seed(0))
    assert (fresh - peer).abs().max() > 1e-3


def test_spatial_only_refinement_is_diffusers_ddim_from_the_renoised_structure():
    scheduler = sd_ddim()
    scheduler.set_timesteps(50)
    model = eps_model()
    spatial = Expert.from_scheduler("spatial", model, scheduler)
    temporal = Expert.from_scheduler("temporal", eps_model(2.0), lightning_euler())
    v0 = latent(0).float()
    out = refine(v0, spatial, temporal, RefinementSettings("spatial", 100, 5),
                 generator=torch.Generator().manual_seed(4))
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(4))
    x = scheduler.add_noise(v0, noise, torch.tensor([100]))
    for t in (100, 80, 60, 40, 20):
        x = scheduler.step(model(x, t), t, x, eta=0.0).prev_sample
    assert torch.allclose(out, x, atol=1e-5)


@pytest.mark.parametrize("mode, calls, evals", [
    ("spatial", {"spatial": 5}, {"spatial": 10}),
    ("temporal", {"temporal": 5}, {"temporal": 5}),
    ("coordinated", {"spatial": 10, "temporal": 5}, {"spatial": 20, "temporal": 5}),
])
def test_nfe_counts_per_mode(mode, calls, evals):
    spatial = Expert.from_scheduler("spatial", eps_model(), sd_ddim(), guided=True)  # CFG: two UNet evaluations
    temporal = Expert.from_scheduler("temporal", eps_model(2.0), lightning_euler())
    meter = NFEMeter()
    with meter.stage("refine"):
        refine(latent(0).float(), spatial, temporal, RefinementSettings(mode, 100, 5), meter,
               torch.Generator().manual_seed(0))
    assert meter.calls == calls and meter.evals == evals and meter.seconds["refine"] > 0
    expected = nfe_per_video(mode, 4, 5, spatial_guided=True)
    assert {k: v for k, v in expected.items() if k in ("spatial", "temporal") and v} == evals
    assert expected["total"] == 4 + sum(evals.values())
    assert nfe_per_video("coordinated", 4, 5)["total"] == 19 and nfe_per_video("coordinated", 8, 10)["total"] == 38


def test_native_resize_policy_runs_each_expert_at_its_size():
    seen = {}

    def recording(name, model):
        def eps(x, t):
            seen.setdefault(name, set()).add(tuple(x.shape[-2:]))
            return model(x, t)
        return eps

    spatial = Expert.from_scheduler("spatial", recording("spatial", eps_model()), sd_ddim(), size=(6, 6))
    temporal = Expert.from_scheduler("temporal", recording("temporal", eps_model()), sd_ddim(), size=(4, 4))
    out = refine(latent(0).float(), spatial, temporal, RefinementSettings("coordinated", 100, 2),
                 generator=torch.Generator().manual_seed(0))
    assert out.shape == SHAPE and seen == {"spatial": {(6, 6)}, "temporal": {(4, 4)}}
    with pytest.raises(ValueError, match=r"noise='predicted' needs the experts at one latent size"):
        coordinated_step(spatial, temporal, latent(0).float(), 100, 80, noise="predicted")


@pytest.mark.parametrize("call, message", [
    (lambda: RefinementSettings(mode="joint"), r"mode must be one of \('spatial', 'temporal', 'coordinated'\)"),
    (lambda: RefinementSettings(noise="zero"), r"noise must be one of \('fresh', 'predicted'\)"),
    (lambda: Expert("x", eps_model(), torch.tensor([0.5, 1.5])), r"alphas_cumprod must be a 1-D schedule of values "
                                                                 r"in \(0, 1\]"),
    (lambda: Expert("x", eps_model(), torch.tensor([0.9, 0.5]), layout="bfchw"), r"layout must be one of"),
])
def test_settings_and_expert_errors_name_the_option(call, message):
    with pytest.raises(ValueError, match=message):
        call()
