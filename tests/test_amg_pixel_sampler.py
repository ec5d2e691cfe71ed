"""AMG's pixel-branch sampler (methods/amg/pixel_sampler.py): plain parity with guided-diffusion's ancestral loop, the
G_sim mean shift against a finite-difference gradient of nL2, the trigger and the check/skip bookkeeping."""
import math

import pytest
import torch

from bench.methods.amg.guidance import CheckSkipper, ThresholdSchedule
from bench.methods.amg.pixel_sampler import (PixelGuidanceSettings, nearest_nl2, sample_pixel_amg,
                                             similarity_gradient)
from bench.methods.compress_guidance.guidance import NoGuidance, sample_ancestral
from bench.methods.diffusion.gaussian import RespacedDiffusion
from bench.seeding import step_noise

SHAPE = (1, 4, 4)


def _process(steps: str = "10") -> RespacedDiffusion:
    return RespacedDiffusion.from_schedule("linear", 1000, steps, "fixed_small")


def _denoiser(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """A fixed smooth ε-model: ε = 0.3 tanh(x) + 0.001 t (depends on x and t, no parameters)."""
    return 0.3 * torch.tanh(x) + 0.001 * t.view(-1, 1, 1, 1).float()


def _generators(n: int, base: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(base + i) for i in range(n)]


def _pool(n: int = 60, seed: int = 5) -> torch.Tensor:
    return torch.rand((n, *SHAPE), generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_without_guidance_it_is_guided_diffusions_ancestral_loop():
    process = _process()
    noise = step_noise(_generators(3), torch.empty(3, *SHAPE))
    ours = sample_pixel_amg(process, _denoiser, noise, None, _generators(3), None, None)
    reference, _ = sample_ancestral(process, _denoiser, noise, None, NoGuidance(), _generators(3))
    torch.testing.assert_close(ours.samples, reference, rtol=0, atol=0)
    assert ours.trigger_step.tolist() == [-1, -1, -1] and ours.guided_steps.tolist() == [0, 0, 0]


def test_a_far_pool_never_triggers_and_changes_nothing():
    process = _process()
    far = torch.full((20, *SHAPE), 50.0) + torch.arange(20.0).view(-1, 1, 1, 1)  # nL2 ~ 1/alpha = 2 > 1.5
    noise = step_noise(_generators(2), torch.empty(2, *SHAPE))
    plain = sample_pixel_amg(process, _denoiser, noise, None, _generators(2), None, None)
    guided = sample_pixel_amg(process, _denoiser, noise, None, _generators(2), PixelGuidanceSettings(k=5), far)
    torch.testing.assert_close(guided.samples, plain.samples, rtol=0, atol=0)
    assert guided.trigger_step.tolist() == [-1, -1] and guided.checks.tolist() == [0, 0]
    assert torch.isfinite(guided.nl2_track).all()  # every step ran the trigger check


def test_nearest_nl2_is_the_official_formula():
    pool, images = _pool(30), _pool(3, seed=9)
    nl2, index, denominator = nearest_nl2(images, pool, k=5, alpha=0.5)
    for b in range(3):
        l2 = sorted(float(((images[b] - p) ** 2).mean().sqrt() / 2) for p in pool)  # AMG's L2
        assert nl2[b].item() == pytest.approx(l2[0] / (0.5 * sum(l2[:5]) / 5), rel=1e-5)
        assert denominator[b].item() == pytest.approx(0.5 * sum(l2[:5]) / 5, rel=1e-5)
        assert float(((images[b] - pool[index[b]]) ** 2).mean().sqrt() / 2) == pytest.approx(l2[0], rel=1e-5)


@pytest.mark.parametrize("comparison", ["x0", "noised"])
def test_similarity_gradient_matches_finite_differences(comparison):
    process = _process()
    settings = PixelGuidanceSettings(comparison=comparison, k=4)
    pool = _pool(12).double()
    x = (_pool(1, seed=3) * 0.5).double()
    index = 4
    eps = _denoiser(x, process.model_timesteps(index, 1, "cpu"), None).double()
    nl2, grad = similarity_gradient(x, eps, process, index, pool.float(), settings, _generators(1, 7))

    def compared_at(x_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if comparison == "x0":
            return process.predict_xstart_from_eps(x_, index, eps).clamp(-1, 1), pool
        a = float(process.alphas_cumprod[index])
        noise = torch.randn(pool.shape, generator=torch.Generator().manual_seed(7)).double()
        return x_, math.sqrt(a) * pool + math.sqrt(1 - a) * noise

    compared, compared_pool = compared_at(x)
    l2 = ((compared - compared_pool) ** 2).mean(dim=(1, 2, 3)).sqrt() / 2
    top, order = l2.topk(4, largest=False)
    neighbour, denominator = int(order[0]), float(0.5 * top.mean())
    assert nl2.item() == pytest.approx(float(top[0]) / denominator, rel=1e-4)

    def value(x_: torch.Tensor) -> float:  # cond_fn's loss: the neighbour and the denominator held fixed, eps held
        moved, moved_pool = compared_at(x_)
        return float(((moved - moved_pool[neighbour]) ** 2).mean().sqrt() / 2 / denominator)

    assert nl2.item() == pytest.approx(value(x), rel=1e-4)
    numeric = torch.zeros_like(x)
    h = 1e-6
    for i in range(x.numel()):
        step = torch.zeros_like(x).view(-1)
        step[i] = h
        step = step.view_as(x)
        numeric.view(-1)[i] = (value(x + step) - value(x - step)) / (2 * h)
    torch.testing.assert_close(grad.double(), numeric, rtol=2e-3, atol=1e-6)


def test_guided_mean_moves_by_variance_times_scale_times_gradient():
    from bench.methods.amg.pixel_sampler import _guide

    process, index = _process(), 1  # a late step: x0 is near x, the variance is not 0
    pool = _pool(10)
    x = pool[:2] * 0.9  # close to pool images: triggers at once
    settings = PixelGuidanceSettings(k=3, calls_per_step=1)
    output = _denoiser(x, process.model_timesteps(index, 2, "cpu"), None)
    prediction = process.p_mean_variance(output, x, index, True)
    nl2, grad = similarity_gradient(x, output, process, index, pool, settings, _generators(2))
    assert (nl2 < settings.trigger).all()
    scale = 1000 * (settings.schedule.value(index) - nl2) * 80  # AMG-iddpm condition_mean
    expected = prediction.mean + prediction.variance * scale.view(-1, 1, 1, 1) * grad
    logs = (torch.full((2, 10), math.nan), torch.full((2,), -1), torch.zeros(2, dtype=torch.long),
            torch.zeros(2, dtype=torch.long))
    moved = _guide(prediction.mean, prediction.variance, output, x, index, process, pool, settings, _generators(2),
                   [CheckSkipper(calls_per_step=1) for _ in range(2)], *logs)
    torch.testing.assert_close(moved, expected)
    assert not torch.allclose(moved, prediction.mean)
    assert logs[1].tolist() == [1, 1] and logs[3].tolist() == [1, 1]
    torch.testing.assert_close(logs[0][:, 1], nl2.float())


def test_schedule_none_guides_every_step():
    process = _process()
    settings = PixelGuidanceSettings(k=3, schedule=ThresholdSchedule("none", a=1.95, b=1.5, c=0.025, above=False))
    noise = step_noise(_generators(2), torch.empty(2, *SHAPE))
    result = sample_pixel_amg(process, _denoiser, noise, None, _generators(2), settings, _pool(10))
    assert result.trigger_step.tolist() == [9, 9]
    assert result.checks.tolist() == [10, 10] and result.guided_steps.tolist() == [10, 10]


def test_checks_pause_as_the_official_globals_when_nothing_guides():
    # a constant threshold of 0 never guides (nL2 >= 0) but the trigger (1.5) fires at the first step
    process = _process("30")
    settings = PixelGuidanceSettings(k=3, schedule=ThresholdSchedule("constant", constant=0.0, above=False),
                                     trigger=100.0)
    noise = step_noise(_generators(1), torch.empty(1, *SHAPE))
    result = sample_pixel_amg(process, _denoiser, noise, None, _generators(1), settings, _pool(10))
    skipper, expected = CheckSkipper(), 0
    for _ in range(30):
        if skipper.should_check():
            expected += 1
            skipper.record(False)
    assert result.trigger_step.tolist() == [29]
    assert result.checks.tolist() == [expected] and result.guided_steps.tolist() == [0]
    assert expected < 30


def test_k_exact_copies_give_nl2_zero_and_no_gradient():
    # >= k identical pool images equal to x0: the official code divides 0 by 0; nL2 is 0 and nothing moves
    process = _process()
    settings = PixelGuidanceSettings(k=3)
    x = _pool(1, seed=4) * 0.5
    eps = torch.zeros_like(x)
    compared = process.predict_xstart_from_eps(x, 0, eps).clamp(-1, 1)
    pool = torch.cat([compared.expand(4, -1, -1, -1), _pool(10)])
    nl2, grad = similarity_gradient(x, eps, process, 0, pool, settings, _generators(1))
    assert nl2.tolist() == [0.0] and torch.equal(grad, torch.zeros_like(grad))
    _, _, denominator = nearest_nl2(_pool(2, seed=8), _pool(12), k=3, alpha=0.5)
    l2 = torch.stack([((_pool(2, seed=8)[b] - _pool(12)) ** 2).mean(dim=(1, 2, 3)).sqrt() / 2 for b in range(2)])
    torch.testing.assert_close(denominator, 0.5 * l2.topk(3, largest=False).values.mean(dim=1))
