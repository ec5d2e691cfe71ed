"""Classifier and classifier-free guidance steps against direct formulas, variants, counts and determinism.

The CFG golden sums come from the authors' ``GaussianDiffusionClassFree2_ComptQuad.p_sample_loop``
(dungdinhanh/compt_guidance, run outside this repo) with the same toy models, schedule and noise: max |diff| was
1.8e-7 in float32 (their ``(1 + w) e_c - w e_u`` against our ``e_u + s (e_c - e_u)``, s = 1 + w).
``tests/golden/compt_guidance_cfg.py --official PATH`` prints them from a checkout of the authors' code (1997d4f).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.methods.compress_guidance.guidance import (
    ClassifierFreeGuidance,
    ClassifierGuidance,
    GuidanceCost,
    NoGuidance,
    sample_ancestral,
)
from bench.methods.compress_guidance.schedule import build_schedule
from bench.methods.diffusion.gaussian import RespacedDiffusion
from bench.seeding import step_noise


def conditional(x, t, y=None):
    tt = t.float().view(-1, 1, 1, 1) / 1000
    return torch.cat([torch.tanh(x * 0.7 + tt) * 1.5, torch.sin(3 * x + tt)], 1)


def unconditional(x, t, y=None):
    tt = t.float().view(-1, 1, 1, 1) / 1000
    return torch.cat([torch.tanh(x * 0.5 - tt) * 1.5, torch.cos(2 * x + tt)], 1)


def classifier(x, t):
    tt = t.to(x.dtype).view(-1, 1) / 1000
    flat = x.flatten(1)
    weight = torch.linspace(-1, 1, flat.shape[1] * 5, dtype=x.dtype).view(flat.shape[1], 5)
    return (flat ** 2 + flat) @ weight * (1 + tt)


def direct_gradient(x, t, y):
    x = x.detach().double().requires_grad_(True)
    chosen = torch.log_softmax(classifier(x, t), -1)[torch.arange(len(x)), y]
    return torch.autograd.grad(chosen.sum(), x)[0]


@pytest.fixture
def process():
    return RespacedDiffusion.from_schedule("cosine", 1000, "10")


def _state(process, index, channels=2):
    x = torch.randn(3, channels, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(index))
    t = process.model_timesteps(index, 3, "cpu")
    return x, t, torch.tensor([0, 2, 4])


@pytest.mark.parametrize("variant, factor", [("compress", 2.0), ("unit", 1.0), ("rescaled", 7 / 6)])
def test_classifier_guided_mean_is_mean_plus_scaled_variance_times_gradient(process, variant, factor):
    """compress: s * w (w = 2 at index 9); unit: s; rescaled: s * total weight 7 / 6 guided steps."""
    schedule = build_schedule({"kind": "compress", "skip": 2, "k": 2}, 10)  # counts [1,1,0,1,0,0,1,0,1,2]
    guidance = ClassifierGuidance(classifier, 3.0, schedule, variant)
    x, t, y = _state(process, 9)
    output = conditional(x, t)
    plain = process.p_mean_variance(output, x, 9)
    cost = GuidanceCost()
    got = guidance.step(process, 9, t, x, output, y, True, cost)
    expected = plain.mean + plain.variance * 3.0 * factor * direct_gradient(x, t, y)
    assert torch.allclose(got.mean, expected, atol=1e-6)  # the gradient is taken in float32, as in ADM
    assert torch.equal(got.log_variance, plain.log_variance)
    assert (cost.guided_steps, cost.classifier_backwards) == (1, 1)
    x7, t7, _ = _state(process, 7)  # index 7 has no slot: the plain step, no classifier pass
    skipped = guidance.step(process, 7, t7, x7, conditional(x7, t7), y, True, cost)
    assert torch.equal(skipped.mean, process.p_mean_variance(conditional(x7, t7), x7, 7).mean)
    assert cost.classifier_backwards == 1


def test_reuse_variant_applies_the_last_gradient_at_unguided_steps(process):
    schedule = build_schedule({"kind": "compress", "skip": 2, "k": 2}, 10)
    guidance = ClassifierGuidance(classifier, 1.5, schedule, "reuse")
    cost = GuidanceCost()
    x9, t9, y = _state(process, 9)
    guidance.step(process, 9, t9, x9, conditional(x9, t9), y, True, cost)
    stored = direct_gradient(x9, t9, y)
    x7, t7, _ = _state(process, 7)
    plain = process.p_mean_variance(conditional(x7, t7), x7, 7)
    got = guidance.step(process, 7, t7, x7, conditional(x7, t7), y, True, cost)
    assert torch.allclose(got.mean, plain.mean + plain.variance * 1.5 * stored, atol=1e-6)
    assert (cost.classifier_backwards, cost.reused_steps) == (1, 1)
    generators = [torch.Generator().manual_seed(i) for i in range(3)]
    _, total = sample_ancestral(process, conditional, step_noise(generators, x9.float()), y, guidance, generators)
    assert total.classifier_backwards == 6 and total.reused_steps == 4  # fresh at 6 counted steps, reused at the rest


def test_cfg_x0_combination_equals_the_authors_sampler():
    n, shape = 50, (3, 2, 4, 4)
    process = RespacedDiffusion.from_schedule("cosine", 1000, str(n))
    calls = []

    def counted_unconditional(x, t, y=None):
        calls.append(int(t[0]))
        return unconditional(x, t)

    schedule = build_schedule({"kind": "compress", "skip": 5, "k": 2}, n)
    guidance = ClassifierFreeGuidance(counted_unconditional, 1.3, schedule, "x0")
    generators = [torch.Generator().manual_seed(7 + i) for i in range(3)]
    noise = step_noise(generators, torch.empty(shape))
    sample, cost = sample_ancestral(process, conditional, noise, torch.tensor([1, 2, 3]), guidance, generators)
    # the two CFG formulas differ by at most 1.8e-7 per entry (measured, module docstring): 96 entries x that
    tol = sample.numel() * 1.8e-7
    assert float(sample.double().sum()) == pytest.approx(-30.967308118008077, abs=tol)
    assert float(sample.double().abs().sum()) == pytest.approx(42.952616832219064, abs=tol)
    guided = [i for i in reversed(range(n)) if schedule.counts[i] > 0]
    assert calls == [int(process.timestep_map[i]) for i in guided]  # the unconditional pass only at guided steps
    assert (cost.extra_forwards, cost.guided_steps, cost.model_forwards) == (len(guided), len(guided), n)


def test_cfg_x0_step_against_the_direct_formula(process):
    x, t, y = _state(process, 6)
    guidance = ClassifierFreeGuidance(unconditional, 1.25, build_schedule({"kind": "full"}, 10), "x0")
    got = guidance.step(process, 6, t, x, conditional(x, t), y, True, GuidanceCost())
    abar = process.alphas_cumprod[6]

    def clipped_x0(out):
        return (np.sqrt(1 / abar) * x - np.sqrt(1 / abar - 1) * out[:, :2]).clamp(-1, 1)

    def eps(x0):
        return (np.sqrt(1 / abar) * x - x0) / np.sqrt(1 / abar - 1)

    e_c, e_u = eps(clipped_x0(conditional(x, t))), eps(clipped_x0(unconditional(x, t)))
    x0 = (np.sqrt(1 / abar) * x - np.sqrt(1 / abar - 1) * ((1 + 0.25) * e_c - 0.25 * e_u)).clamp(-1, 1)
    mean = process.posterior_mean_coef1[6] * x0 + process.posterior_mean_coef2[6] * x
    assert torch.allclose(got.mean, mean, atol=1e-12)


def test_cfg_output_combination_guides_only_the_first_channels(process):
    x, t, y = _state(process, 4)
    out_c, out_u = conditional(x, t), unconditional(x, t)  # 4 channels: eps (2) + variance (2)
    guidance = ClassifierFreeGuidance(unconditional, 4.0, build_schedule({"kind": "full"}, 10), "output", channels=1)
    got = guidance.step(process, 4, t, x, out_c, y, False, GuidanceCost())
    mixed = out_c.clone()
    mixed[:, :1] = out_u[:, :1] + 4.0 * (out_c[:, :1] - out_u[:, :1])
    expected = process.p_mean_variance(mixed, x, 4, clip_denoised=False)
    assert torch.equal(got.mean, expected.mean) and torch.equal(got.log_variance, expected.log_variance)
    assert not torch.equal(got.mean, process.p_mean_variance(out_c, x, 4, clip_denoised=False).mean)


def test_guidance_runs_inside_inference_mode_and_samples_do_not_depend_on_the_batch(process):
    schedule = build_schedule({"kind": "compress", "skip": 2, "k": 2}, 10)
    guidance = ClassifierGuidance(classifier, 2.0, schedule)
    y = torch.tensor([0, 1, 2])

    def run(indices):
        generators = [torch.Generator().manual_seed(40 + i) for i in indices]
        noise = step_noise(generators, torch.empty(len(indices), 2, 4, 4))
        with torch.inference_mode():
            return sample_ancestral(process, conditional, noise, y[indices], guidance, generators)[0]

    together = run([0, 1, 2])
    assert torch.allclose(together[1:2], run([1]), atol=1e-6)
    plain, _ = sample_ancestral(process, conditional, step_noise([torch.Generator().manual_seed(40)],
                                torch.empty(1, 2, 4, 4)), y[:1], NoGuidance(), [torch.Generator().manual_seed(40)])
    assert not torch.allclose(plain, together[:1])  # guidance changed the sample


def test_invalid_options():
    schedule = build_schedule({"kind": "full"}, 10)
    with pytest.raises(ValueError, match="variant"):
        ClassifierGuidance(classifier, 1.0, schedule, "duplicate")
    with pytest.raises(ValueError, match="combine"):
        ClassifierFreeGuidance(unconditional, 1.0, schedule, "eps")
