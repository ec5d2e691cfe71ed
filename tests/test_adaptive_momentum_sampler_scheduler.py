"""AdaptiveMomentumScheduler (AMS, Wang et al., IJCAI 2024): parity with diffusers' DDIM/DDPM for the plain
sampler, the official loop's formulas for momentum/rms/adam, the lambda-index quirk, DDPMPipeline drop-in use and
config round trips. A deterministic fake epsilon-model on float64 [3, 3, 8, 8] tensors keeps everything exact."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.utils.torch_utils import randn_tensor

from bench.methods.adaptive_momentum_sampler.scheduler import AdaptiveMomentumScheduler, AMSSchedulerOutput

T = 1000
SHAPE = (3, 3, 8, 8)
F64 = torch.float64
SEEDS = (11, 22, 33)


class FakeEps:
    """eps(x, t) = (W x + b) (1 + 0.3 sin(t / 100)), W a fixed random 1x1 conv near the identity."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.w = torch.eye(3, dtype=F64) + 0.2 * torch.randn(3, 3, generator=g, dtype=F64)
        self.b = 0.1 * torch.randn(3, generator=g, dtype=F64)

    def __call__(self, x: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        # Elementwise ops only (no BLAS call), so it is cheap and exactly reproducible.
        y = (self.w.view(1, 3, 3, 1, 1) * x.unsqueeze(1)).sum(2) + self.b.view(1, 3, 1, 1)
        return y * (1.0 + 0.3 * math.sin(int(t) / 100.0))


MODEL = FakeEps()


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: intra-op threads only add synchronisation cost (large on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def x_init(seed: int = 0) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed), dtype=F64)


def noises(n: int, seed: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(SHAPE, generator=g, dtype=F64) for _ in range(n)]


def gens() -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in SEEDS]


def trajectory(scheduler, steps: int, x: torch.Tensor, noise: list[torch.Tensor] | None = None,
               generator=None, **step_kwargs) -> list[torch.Tensor]:
    """Every prev_sample of a full run (after ``set_timesteps(steps)``)."""
    scheduler.set_timesteps(steps)
    out = []
    for k, t in enumerate(scheduler.timesteps):
        kw = dict(step_kwargs)
        if noise is not None:
            kw["variance_noise"] = noise[k]
        if generator is not None:
            kw["generator"] = generator
        x = scheduler.step(MODEL(x, t), t, x, **kw).prev_sample
        out.append(x)
    return out


def to_float64(scheduler):
    """A diffusers reference scheduler computing its coefficients in float64 from the same float32 alphas_cumprod,
    so a comparison checks the algebra rather than float32 rounding of the coefficients."""
    scheduler.alphas_cumprod = scheduler.alphas_cumprod.double()
    if hasattr(scheduler, "final_alpha_cumprod"):
        scheduler.final_alpha_cumprod = scheduler.final_alpha_cumprod.double()
    if hasattr(scheduler, "one"):
        scheduler.one = scheduler.one.double()
    return scheduler


def max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    assert len(a) == len(b)
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


def ddim() -> DDIMScheduler:
    return DDIMScheduler(num_train_timesteps=T, beta_schedule="linear", clip_sample=False, set_alpha_to_one=True,
                         steps_offset=0, timestep_spacing="leading")


# ---------------------------------------------------------------------------------------------- 1-3 diffusers parity
@pytest.mark.parametrize("steps", [10, 50])
def test_o_eta0_equals_ddim(steps: int) -> None:
    ams = AdaptiveMomentumScheduler(method="o", eta=0.0)
    ref = to_float64(ddim())
    ams.set_timesteps(steps)
    ref.set_timesteps(steps)
    assert torch.equal(ams.timesteps, ref.timesteps)
    assert ams.timesteps.dtype == torch.int64 and ams.timesteps[0] == T - T // steps and ams.timesteps[-1] == 0
    assert torch.equal(ams.alphas_cumprod, ddim().alphas_cumprod)
    ours = trajectory(ams, steps, x_init())
    theirs = trajectory(ref, steps, x_init(), eta=0.0)
    assert max_diff(ours, theirs) < 1e-10
    # Stock DDIM computes its coefficients in float32: measured max |diff| 4e-7 (S=10, 50) on these float64 samples.
    assert max_diff(ours, trajectory(ddim(), steps, x_init(), eta=0.0)) < 5e-6


@pytest.mark.parametrize("steps", [10, 50])
def test_o_eta1_equals_ddpm_fixed_small(steps: int) -> None:
    ams = AdaptiveMomentumScheduler(method="o", eta=1.0)
    ref = to_float64(DDPMScheduler(num_train_timesteps=T, variance_type="fixed_small", clip_sample=False))
    ref.set_timesteps(steps)
    ams.set_timesteps(steps)
    assert torch.equal(ams.timesteps, ref.timesteps)
    # Both draw noise from the per-sample generators exactly at the steps with t > 0.
    ours = trajectory(ams, steps, x_init(), generator=gens())
    theirs = trajectory(ref, steps, x_init(), generator=gens())
    assert max_diff(ours, theirs) < 1e-10
    # Stock float32 coefficients: measured max |diff| 6e-7 (S=10) and 7e-6 (S=50).
    ref32 = DDPMScheduler(num_train_timesteps=T, variance_type="fixed_small", clip_sample=False)
    assert max_diff(ours, trajectory(ref32, steps, x_init(), generator=gens())) < 5e-5


@pytest.mark.parametrize("steps", [10, 50])
def test_o_eta2_equals_ddpm_fixed_large(steps: int) -> None:
    # They agree: the official eps-coefficient -sqrt(1/a_t - 1) beta / (1 - a_t) in x/sqrt(a) coordinates gives
    # x_s = (x_t - beta eps / sqrt(1 - a_t)) / sqrt(a_t / a_s) + sqrt(beta) z, which is DDPM's posterior mean with
    # the fixed-large variance beta = 1 - a_t / a_s (no noise at t = 0 in both).
    ams = AdaptiveMomentumScheduler(method="o", eta=2.0)
    ref = to_float64(DDPMScheduler(num_train_timesteps=T, variance_type="fixed_large", clip_sample=False))
    ams.set_timesteps(steps)
    ref.set_timesteps(steps)
    assert torch.equal(ams.timesteps, ref.timesteps)
    ours = trajectory(ams, steps, x_init(), generator=gens())
    theirs = trajectory(ref, steps, x_init(), generator=gens())
    assert max_diff(ours, theirs) < 1e-10
    # Stock float32 coefficients: measured max |diff| 6e-7 (S=10) and 8e-6 (S=50).
    ref32 = DDPMScheduler(num_train_timesteps=T, variance_type="fixed_large", clip_sample=False)
    assert max_diff(ours, trajectory(ref32, steps, x_init(), generator=gens())) < 5e-5


# ---------------------------------------------------------------------------------------------- 4 degenerate cases
@pytest.mark.parametrize("mode", [1, 2])
@pytest.mark.parametrize("eta", [0.0, 1.0, 2.0])
def test_momentum_with_zero_lambda_is_plain(mode: int, eta: float) -> None:
    plain = trajectory(AdaptiveMomentumScheduler(method="o", eta=eta), 10, x_init(), generator=gens())
    mom = AdaptiveMomentumScheduler(method="momentum", eta=eta, b_min=0.0, b_max=0.0, momentum_mode=mode)
    out = trajectory(mom, 10, x_init(), generator=gens())
    assert all(torch.equal(a, b) for a, b in zip(plain, out, strict=True))


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_rms_with_c1_is_plain_up_to_offset(eta: float) -> None:
    plain = trajectory(AdaptiveMomentumScheduler(method="o", eta=eta), 10, x_init(), generator=gens())
    rms = trajectory(AdaptiveMomentumScheduler(method="rms", eta=eta, c=1.0), 10, x_init(), generator=gens())
    rel = max((a - b).abs().max().item() / a.abs().max().item() for a, b in zip(plain, rms, strict=True))
    # v = sqrt(v) + 1e-8 creeps up to ~1 + 2e-8 (never exactly 1): measured rel ~1e-7 over 10 steps.
    assert 0 < rel < 3e-7


# ---------------------------------------------------------------------------------------------- 5 official formulas
def official_loop(x: torch.Tensor, noise: list[torch.Tensor], method: str, mode: int, eta: float, spacing: str,
                  steps: int, ascending: bool, b_min: float, b_max: float, c: float) -> list[torch.Tensor]:
    """The official sampling loop written out from its formulas (float64, numpy-scalar lambda weights)."""
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float32)
    abar = torch.cumprod(1.0 - betas, dim=0).double()
    skip = int(T / steps)
    if spacing == "uniform":
        seq = list(range(0, T, skip))
    else:
        seq = [int(s) for s in np.linspace(0, np.sqrt(T * 0.8), steps) ** 2]
    seq_next = [-1] + seq[:-1]
    lam = np.linspace(b_min, b_max, int(T / skip)) if ascending else np.linspace(b_max, b_min, int(T / skip))
    m, v = torch.zeros_like(x), torch.ones_like(x)
    out = []
    for k, (i, j) in enumerate(zip(reversed(seq), reversed(seq_next), strict=True)):
        at = abar[i]
        an = abar[j] if j >= 0 else torch.tensor(1.0, dtype=F64)
        et = MODEL(x, i)
        if eta != 2:
            c1 = eta * ((1 - at / an) * (1 - an) / (1 - at)).sqrt()
            c2 = ((1 - an) - c1**2).sqrt()
            p1 = c2 / an.sqrt() - (1 - at).sqrt() / at.sqrt()
        else:
            beta = 1 - at / an
            c1 = beta.sqrt() * (0.0 if i == 0 else 1.0)
            p1 = -(1.0 / at - 1).sqrt() * beta / (1.0 - at)
        p2 = c1 / an.sqrt()
        dx = p1 * et + p2 * noise[k]
        if method in ("rms", "adam"):
            n = F.normalize(dx, p=2.0)
            v = c * v + (1 - c) * n**2
            v = v.sqrt() + 1e-8
        if method in ("momentum", "adam"):
            lamb = lam[int((T - 1 - i) / skip)]
            if mode == 1:
                m = np.sin(lamb * np.pi / 2) * m + np.cos(lamb * np.pi / 2) * dx
            else:
                m = np.power(np.sin(lamb * np.pi / 2), 2) * m + np.power(np.cos(lamb * np.pi / 2), 2) * dx
            dx = m
        x = an.sqrt() * (x / at.sqrt() + dx / v)
        out.append(x)
    return out


CASES = [(method, mode, eta, spacing, 10) for method in ("momentum", "rms", "adam") for mode in (1, 2)
         for eta in (0.0, 1.0, 2.0) for spacing in ("uniform", "quad") if method != "rms" or mode == 2]
CASES += [("adam", 2, eta, "quad", 50) for eta in (0.0, 1.0, 2.0)]  # the quad grid of 50 repeats t = 0


@pytest.mark.parametrize("method,mode,eta,spacing,steps", CASES)
def test_matches_official_formulas(method: str, mode: int, eta: float, spacing: str, steps: int) -> None:
    hp = dict(b_min=0.05, b_max=0.4, c=0.9)
    z = noises(steps)
    for ascending in (True, False):
        ams = AdaptiveMomentumScheduler(method=method, eta=eta, momentum_mode=mode, timestep_spacing=spacing,
                                        ascending=ascending, **hp)
        ours = trajectory(ams, steps, x_init(), noise=z)
        ref = official_loop(x_init(), z, method, mode, eta, spacing, steps, ascending, **hp)
        assert max_diff(ours, ref) < 1e-12
        assert ours[-1].abs().max() > 0.1  # a real trajectory, not a collapsed one
    if spacing == "quad" and steps == 50:
        assert ams.timesteps[-3:].tolist() == [1, 0, 0]


# ---------------------------------------------------------------------------------------------- 6 lambda schedule
def test_lambda_official_quad_quirk_golden() -> None:
    ams = AdaptiveMomentumScheduler(method="momentum", timestep_spacing="quad", b_min=0.0, b_max=0.1)
    ams.set_timesteps(10)
    # floor(800 k^2 / 81) for k = 9..0 (sqrt(0.8 T) = sqrt(800), 10 points).
    assert ams.timesteps.tolist() == [800, 632, 483, 355, 246, 158, 88, 39, 9, 0]
    # Indexed as though uniform: lam[(999 - t) // 100] over linspace(0, 0.1, 10), lam[k] = 0.1 k / 9.
    index = [(999 - t) // 100 for t in [800, 632, 483, 355, 246, 158, 88, 39, 9, 0]]
    assert index == [1, 3, 5, 6, 7, 8, 9, 9, 9, 9]
    assert ams.lambdas == pytest.approx([0.1 * k / 9 for k in index], rel=1e-15, abs=0)
    assert ams.lambdas[0] == pytest.approx(0.011111111111111112, rel=1e-15)
    assert ams.lambdas[3] == pytest.approx(0.06666666666666667, rel=1e-15)
    assert ams.lambdas[-4:] == [0.1, 0.1, 0.1, 0.1]
    # By step position instead: every value once, b_min first.
    step = AdaptiveMomentumScheduler(method="momentum", timestep_spacing="quad", lambda_index="step")
    step.set_timesteps(10)
    assert step.lambdas == pytest.approx([0.1 * k / 9 for k in range(10)], rel=1e-15, abs=0)
    desc = AdaptiveMomentumScheduler(method="momentum", timestep_spacing="quad", ascending=False)
    desc.set_timesteps(10)
    assert desc.lambdas == pytest.approx([0.1 - 0.1 * k / 9 for k in index], rel=1e-14, abs=1e-17)


def test_lambda_official_index_out_of_range() -> None:
    ams = AdaptiveMomentumScheduler(method="adam")
    with pytest.raises(ValueError, match="IndexError") as err:
        ams.set_timesteps(30)  # skip 33: range(0, 1000, 33) has 31 entries, lam 30; t=0 -> index 30
    assert "lambda_index='step'" in str(err.value)
    AdaptiveMomentumScheduler(method="rms").set_timesteps(30)  # no momentum, no lambda: fine, as officially
    step = AdaptiveMomentumScheduler(method="adam", lambda_index="step", eta=0.0)
    step.set_timesteps(30)
    assert len(step.timesteps) == 31 and step.timesteps[0] == 990  # the official grid keeps its extra entry
    assert step.lambdas == pytest.approx(np.linspace(0.0, 0.1, 31).tolist(), rel=0, abs=0)
    out = trajectory(step, 30, x_init())
    assert torch.isfinite(out[-1]).all() and len(out) == 31


# ---------------------------------------------------------------------------------------------- 7 DDPMPipeline
def tiny_pipeline(eta: float) -> DDPMPipeline:
    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4).eval()
    pipe = DDPMPipeline(unet=unet, scheduler=AdaptiveMomentumScheduler(method="adam", eta=eta))
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddpm_pipeline_drop_in(eta: float) -> None:
    pipe = tiny_pipeline(eta)
    images = pipe(batch_size=3, generator=gens(), num_inference_steps=5, output_type="np").images
    assert images.shape == (3, 8, 8, 3) and images.dtype == np.float32

    g = gens()
    sched = pipe.scheduler
    x = randn_tensor((3, 3, 8, 8), generator=g, dtype=torch.float32)
    sched.set_timesteps(5)
    assert sched.timesteps.tolist() == [800, 600, 400, 200, 0]
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.step(pipe.unet(x, t).sample, t, x, generator=g).prev_sample
    manual = (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(images, manual)

    single = [pipe(batch_size=1, generator=[g1], num_inference_steps=5, output_type="np").images[0] for g1 in gens()]
    np.testing.assert_allclose(images, np.stack(single), rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------- 8 config and state
def test_config_round_trip(tmp_path) -> None:
    kwargs = dict(num_train_timesteps=500, beta_start=0.0002, beta_end=0.03, beta_schedule="scaled_linear",
                  method="rms", eta=2.0, b_min=0.01, b_max=0.3, c=0.99, momentum_mode=1, ascending=False,
                  timestep_spacing="quad", lambda_index="step", prediction_type="epsilon")
    ams = AdaptiveMomentumScheduler(**kwargs)
    ams.save_config(tmp_path)
    back = AdaptiveMomentumScheduler.from_config(AdaptiveMomentumScheduler.load_config(tmp_path))
    for key, value in kwargs.items():
        assert back.config[key] == value, key
    assert back.config["trained_betas"] is None
    public = {k: v for k, v in ams.config.items() if not k.startswith("_")}
    assert {k: v for k, v in back.config.items() if not k.startswith("_")} == public
    assert torch.equal(back.alphas_cumprod, ams.alphas_cumprod)

    betas = np.linspace(1e-4, 0.02, 1000).tolist()
    trained = AdaptiveMomentumScheduler(trained_betas=betas, method="adam")
    trained.save_config(tmp_path / "trained")
    back = AdaptiveMomentumScheduler.from_config(AdaptiveMomentumScheduler.load_config(tmp_path / "trained"))
    assert back.config["trained_betas"] == betas and back.config["method"] == "adam"
    assert torch.equal(back.betas, torch.tensor(betas, dtype=torch.float32))


def test_set_timesteps_resets_state() -> None:
    ams = AdaptiveMomentumScheduler(method="adam", eta=1.0, b_max=0.3, c=0.9)
    first = trajectory(ams, 10, x_init(), generator=gens())
    assert ams.m is not None and ams.v is not None
    second = trajectory(ams, 10, x_init(), generator=gens())  # trajectory() calls set_timesteps again
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    ams.set_timesteps(10)
    assert ams.m is None and ams.v is None


def test_new_trajectory_without_set_timesteps_raises() -> None:
    ams = AdaptiveMomentumScheduler(method="adam", eta=0.0)
    trajectory(ams, 10, x_init())
    t = ams.timesteps[0]
    with pytest.raises(ValueError, match="set_timesteps"):
        ams.step(MODEL(x_init(), t), t, x_init())
    ams.set_timesteps(10)
    ams.step(MODEL(x_init(), t), t, x_init())
    small = x_init()[:1]
    t1 = ams.timesteps[1]
    with pytest.raises(ValueError, match="set_timesteps"):
        ams.step(MODEL(small, t1), t1, small)


# ---------------------------------------------------------------------------------------------- API details
def test_step_api_details() -> None:
    ams = AdaptiveMomentumScheduler(method="momentum", eta=1.0)
    ams.set_timesteps(10)
    x = x_init()
    t = int(ams.timesteps[0])
    eps = MODEL(x, t)
    out = ams.step(eps, t, x, variance_noise=noises(1)[0], use_clipped_model_output=True)
    assert isinstance(out, AMSSchedulerOutput)
    a = ams.alphas_cumprod[t].item()
    torch.testing.assert_close(out.pred_original_sample, (x - math.sqrt(1 - a) * eps) / math.sqrt(a),
                               rtol=0, atol=1e-12)
    # The step-level eta overrides the config; return_dict=False gives a tuple; int and tensor timesteps agree.
    a0 = AdaptiveMomentumScheduler(method="momentum", eta=0.0)
    a1 = AdaptiveMomentumScheduler(method="momentum", eta=1.0)
    a0.set_timesteps(10)
    a1.set_timesteps(10)
    ref = a0.step(eps, t, x).prev_sample
    prev, x0 = a1.step(eps, torch.tensor(t), x, eta=0.0, return_dict=False)
    assert torch.equal(prev, ref) and torch.equal(x0, out.pred_original_sample)
    with pytest.raises(ValueError, match="not in the sampled grid"):
        a1.step(eps, 999, x)
    with pytest.raises(ValueError, match="either generator or variance_noise"):
        a1.step(eps, a1.timesteps[1], x, generator=torch.Generator(), variance_noise=x)

    assert torch.equal(ams.scale_model_input(x, t), x)
    assert len(ams) == T and ams.order == 1 and ams.init_noise_sigma == 1.0
    ts = torch.tensor([0, 500, 999, 10])
    g = torch.Generator().manual_seed(5)
    x4, noise = torch.randn(2, 4, 3, 4, 4, generator=g, dtype=F64)
    torch.testing.assert_close(ams.add_noise(x4, noise, ts), DDPMScheduler().add_noise(x4, noise, ts),
                               rtol=0, atol=1e-15)


def test_float32_sample_stays_float32() -> None:
    ams = AdaptiveMomentumScheduler(method="adam", eta=1.0)
    x = x_init().float()
    ams.set_timesteps(10)
    z = noises(10)
    for k, t in enumerate(ams.timesteps):
        x = ams.step(MODEL(x.double(), t).float(), t, x, variance_noise=z[k].float()).prev_sample
    assert x.dtype == torch.float32 and ams.m.dtype == torch.float32 and ams.v.dtype == torch.float32
    ref = trajectory(AdaptiveMomentumScheduler(method="adam", eta=1.0), 10, x_init(), noise=z)
    assert (x.double() - ref[-1]).abs().max() < 1e-4


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
def test_betas_as_ddim(schedule: str) -> None:
    ams = AdaptiveMomentumScheduler(beta_schedule=schedule)
    assert torch.equal(ams.betas, DDIMScheduler(beta_schedule=schedule).betas)
    assert torch.equal(ams.alphas_cumprod, DDIMScheduler(beta_schedule=schedule).alphas_cumprod)


@pytest.mark.parametrize("kwargs,match", [
    (dict(method="sgd"), "method"),
    (dict(timestep_spacing="leading"), "timestep_spacing"),
    (dict(lambda_index="quirk"), "lambda_index"),
    (dict(momentum_mode=3), "momentum_mode"),
    (dict(beta_schedule="sigmoid"), "beta_schedule"),
    (dict(prediction_type="v_prediction"), "epsilon"),
    (dict(eta=-1.0), "eta"),
    (dict(c=1.5), "c"),
    (dict(trained_betas=[0.1, 0.2]), "trained_betas"),
])
def test_invalid_config(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        AdaptiveMomentumScheduler(**kwargs)


def test_invalid_steps() -> None:
    ams = AdaptiveMomentumScheduler()
    with pytest.raises(ValueError, match="set_timesteps"):
        ams.step(x_init(), 0, x_init())
    for steps in (0, T + 1):
        with pytest.raises(ValueError, match="num_inference_steps"):
            ams.set_timesteps(steps)
    ams = AdaptiveMomentumScheduler(method="o", eta=1.5)
    ams.set_timesteps(10)
    with pytest.raises(ValueError, match="too large"):
        trajectory(ams, 10, x_init(), generator=gens())
