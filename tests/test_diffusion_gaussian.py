"""guided-diffusion's respaced Gaussian process: schedules, respacing and the ancestral sampler's numbers.

The golden sums below were produced by openai/guided-diffusion's own ``SpacedDiffusion.p_sample_loop`` (the
official ``gaussian_diffusion.py``/``respace.py``; tests/golden/guided_diffusion_sampling.py prints them) with the
same toy model, classifier and noise draws; our sampler matched it bit for bit (max |diff| = 0.0) for all three
variance types, both schedules, with and without classifier guidance.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from bench.methods.compress_guidance.guidance import ClassifierGuidance, NoGuidance, sample_ancestral
from bench.seeding import step_noise
from bench.methods.compress_guidance.schedule import build_schedule
from bench.methods.diffusion.gaussian import (
    RespacedDiffusion,
    discretized_gaussian_log_likelihood,
    named_beta_schedule,
    normal_kl,
    rescaled_timesteps,
    space_timesteps,
)
from helpers import rounding_tolerance


def toy_model(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """A deterministic stand-in for a learned-sigma epsilon model: [eps | variance values]."""
    tt = t.float().view(-1, 1, 1, 1) / 1000
    return torch.cat([torch.tanh(x * 0.7 + tt), torch.sin(3 * x + tt)], 1)


def toy_classifier(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    tt = t.float().view(-1, 1) / 1000
    flat = x.flatten(1)
    weight = torch.linspace(-1, 1, flat.shape[1] * 5).view(flat.shape[1], 5)
    return (flat ** 2 + flat) @ weight * (1 + tt)


@pytest.mark.parametrize("steps, sections, digest, head", [
    (1000, "250", "7f97d5d99bddbe14", [0, 4, 8, 12, 16, 20]),
    (1000, "ddim50", "e99a94b68085e153", [0, 20, 40, 60, 80, 100]),
    (300, "10,15,20", "b2c1e628b94951f5", [0, 11, 22, 33, 44, 55]),
    (1000, "27", "7cc316ac9cc29bb3", [0, 38, 77, 115, 154, 192]),
    (4000, "250", "661cfef5b15a1244", [0, 16, 32, 48, 64, 80]),
])
def test_space_timesteps_matches_the_official_striding(steps, sections, digest, head):
    kept = space_timesteps(steps, sections)
    assert kept[:6] == head
    assert hashlib.sha256(str(kept).encode()).hexdigest()[:16] == digest  # digests of the official function's output


def test_space_timesteps_errors():
    with pytest.raises(ValueError, match="cannot divide"):
        space_timesteps(10, "20")
    with pytest.raises(ValueError, match="integer stride"):
        space_timesteps(1000, "ddim333")


def test_beta_schedules():
    assert np.array_equal(named_beta_schedule("linear", 1000), np.linspace(1e-4, 0.02, 1000))
    assert np.allclose(named_beta_schedule("linear", 4000), np.linspace(2.5e-5, 0.005, 4000))
    cosine = named_beta_schedule("cosine", 1000)
    abar = np.cos((np.arange(1001) / 1000 + 0.008) / 1.008 * np.pi / 2) ** 2
    assert np.allclose(cosine[:-1], (1 - abar[1:] / abar[:-1])[:-1], rtol=1e-12)
    assert cosine[-1] == 0.999  # capped
    with pytest.raises(ValueError, match="unknown noise schedule"):
        named_beta_schedule("sigmoid", 10)


def test_respacing_keeps_the_cumulative_alphas_of_the_kept_steps():
    betas = named_beta_schedule("cosine", 1000)
    process = RespacedDiffusion.from_schedule("cosine", 1000, "250")
    base = np.cumprod(1 - betas)
    assert process.num_timesteps == 250 and process.timestep_map[-1] == 999
    assert np.allclose(process.alphas_cumprod, base[process.timestep_map.numpy()], rtol=1e-12)
    full = RespacedDiffusion.from_schedule("linear", 1000, "")
    assert np.allclose(full.betas, named_beta_schedule("linear", 1000), rtol=1e-12)


def test_learned_range_variance_against_the_formula():
    process = RespacedDiffusion.from_schedule("cosine", 1000, "50")
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = toy_model(x, process.model_timesteps(10, 2, "cpu")).double()
    got = process.p_mean_variance(out, x, 10, clip_denoised=False)
    frac = (out[:, 3:] + 1) / 2
    expected = frac * np.log(process.betas[10]) + (1 - frac) * np.log(process.posterior_variance[10])
    assert torch.allclose(got.log_variance, expected, atol=1e-12)
    x0 = np.sqrt(1 / process.alphas_cumprod[10]) * x - np.sqrt(1 / process.alphas_cumprod[10] - 1) * out[:, :3]
    assert torch.allclose(got.pred_xstart, x0, atol=1e-12)
    with pytest.raises(ValueError, match="learned-variance model returns 6 channels"):
        process.p_mean_variance(out[:, :3], x, 10)


@pytest.mark.parametrize("variance, schedule, guided, total, absolute", [
    ("learned_range", "cosine", False, -31.47918587096501, 50.082299887319095),
    ("learned_range", "cosine", True, -32.52138291671872, 50.49105541780591),
    ("learned_range", "linear", True, -23.224885066971183, 50.19985152967274),
    ("fixed_small", "linear", False, -23.079571796464734, 51.20510105590802),
    ("fixed_small", "cosine", True, -33.9318209188059, 49.801740194670856),
    ("fixed_large", "linear", True, -22.81652317539556, 52.57547658093972),
])
def test_ancestral_sampling_equals_guided_diffusion(variance, schedule, guided, total, absolute):
    n, batch, shape = 25, 3, (3, 2, 4, 4)
    process = RespacedDiffusion.from_schedule(schedule, 1000, str(n), variance)
    model = toy_model if variance == "learned_range" else (lambda x, t, y=None: toy_model(x, t)[:, :2])
    generators = [torch.Generator().manual_seed(100 + i) for i in range(batch)]
    noise = step_noise(generators, torch.empty(shape))
    guidance = (ClassifierGuidance(toy_classifier, 2.0, build_schedule({"kind": "full"}, n)) if guided
                else NoGuidance())
    sample, cost = sample_ancestral(process, model, noise, torch.tensor([0, 3, 4]), guidance, generators)
    # bit-equal here; another kernel order moves each float32 step by about one rounding: n x eps x sum |x| (1.5e-4)
    tol = rounding_tolerance(torch.float32, absolute, n)
    assert float(sample.double().sum()) == pytest.approx(total, abs=tol)
    assert float(sample.double().abs().sum()) == pytest.approx(absolute, abs=tol)
    assert cost.model_forwards == n and cost.classifier_backwards == (n if guided else 0)


def test_fixed_small_sampling_equals_diffusers_ddpm_with_custom_timesteps():
    """diffusers' DDPMScheduler on the same kept timesteps is the same process (fixed-small variance, clipped x0)."""
    from diffusers import DDPMScheduler

    n, shape = 20, (2, 1, 4, 4)
    process = RespacedDiffusion.from_schedule("linear", 1000, str(n), "fixed_small")
    model = lambda x, t, y=None: toy_model(x, t)[:, :1]  # noqa: E731
    generators = [torch.Generator().manual_seed(5 + i) for i in range(2)]
    noise = step_noise(generators, torch.empty(shape))
    ours, _ = sample_ancestral(process, model, noise, None, NoGuidance(), generators)

    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True,
                              variance_type="fixed_small")
    scheduler.set_timesteps(timesteps=process.timestep_map.flip(0).tolist())
    generators = [torch.Generator().manual_seed(5 + i) for i in range(2)]
    x = step_noise(generators, torch.empty(shape))
    for t in scheduler.timesteps:
        x = scheduler.step(model(x, t.repeat(2)), t, x, generator=generators).prev_sample
    assert torch.allclose(ours, x, atol=5e-5)


# ----------------------------------------------------------------- improved-diffusion's training math (vb terms)


def _learned(process: RespacedDiffusion, index: np.ndarray, eps: torch.Tensor, v: torch.Tensor,
             x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """p(x_{i-1} | x_i) written out: mean from the ε-implied x0, log variance interpolated by v ∈ [-1, 1]."""
    def col(values: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(values[index]).view(-1, 1, 1, 1)

    abar, abar_prev, beta = col(process.alphas_cumprod), col(process.alphas_cumprod_prev), col(process.betas)
    x0 = (x - (1 - abar).sqrt() * eps) / abar.sqrt()
    mean = beta * abar_prev.sqrt() / (1 - abar) * x0 + (1 - abar_prev) * (1 - beta).sqrt() / (1 - abar) * x
    posterior = process.posterior_variance.copy()
    posterior[0] = posterior[1]  # the clipped log variance
    log_var = (v + 1) / 2 * beta.log() + (1 - v) / 2 * col(np.log(posterior))
    return mean, log_var


def test_q_sample_and_posterior_with_one_index_per_sample():
    process = RespacedDiffusion.from_schedule("cosine", 100, "")
    gen = torch.Generator().manual_seed(3)
    x0, noise = (torch.randn(3, 2, 4, 4, dtype=torch.float64, generator=gen) for _ in range(2))
    index = torch.tensor([0, 5, 99])
    abar = torch.from_numpy(process.alphas_cumprod[index.numpy()]).view(-1, 1, 1, 1)
    x = process.q_sample(x0, index, noise)
    torch.testing.assert_close(x, abar.sqrt() * x0 + (1 - abar).sqrt() * noise, rtol=0, atol=1e-14)
    torch.testing.assert_close(x[1:2], process.q_sample(x0[1:2], 5, noise[1:2]), rtol=0, atol=0)  # int == tensor
    mean, variance, log_variance = process.q_posterior_mean_variance(x0, x, index)
    abar_prev = torch.from_numpy(process.alphas_cumprod_prev[index.numpy()]).view(-1, 1, 1, 1)
    beta = 1 - abar / abar_prev
    expected = beta * abar_prev.sqrt() / (1 - abar) * x0 + (1 - abar_prev) * (1 - beta).sqrt() / (1 - abar) * x
    torch.testing.assert_close(mean, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(variance, (beta * (1 - abar_prev) / (1 - abar)).expand_as(x), rtol=1e-12, atol=0)
    assert variance[0].abs().max() == 0 and torch.equal(log_variance[0], log_variance[0].new_full(
        log_variance[0].shape, float(np.log(process.posterior_variance[1]))))  # clipped at the first step
    with pytest.raises(ValueError, match=r"noise shape \(3, 2, 4, 4\) differs from x_start's \(3, 1, 4, 4\)"):
        process.q_sample(x0[:, :1], index, noise)


def test_vb_term_above_zero_is_the_gaussian_kl_in_bits():
    process = RespacedDiffusion.from_schedule("cosine", 200, "")
    gen = torch.Generator().manual_seed(7)
    x0 = torch.rand(3, 1, 4, 4, dtype=torch.float64, generator=gen) * 2 - 1
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64, generator=gen)
    eps = torch.randn(3, 1, 4, 4, dtype=torch.float64, generator=gen)
    v = torch.rand(3, 1, 4, 4, dtype=torch.float64, generator=gen) * 2 - 1
    index = torch.tensor([1, 57, 199])
    bits, pred_xstart = process.vb_terms_bpd(torch.cat([eps, v], 1), x0, x, index)
    # KL(N(m1, s1²) || N(m2, s2²)) = log(s2 / s1) + (s1² + (m1 - m2)²) / (2 s2²) - 1/2, per pixel, averaged, in bits
    m2, log_var2 = _learned(process, index.numpy(), eps, v, x)
    true_mean, true_var, _ = process.q_posterior_mean_variance(x0, x, index)
    kl = (0.5 * log_var2 - 0.5 * true_var.log() + (true_var + (true_mean - m2) ** 2) / (2 * log_var2.exp()) - 0.5)
    torch.testing.assert_close(bits, kl.mean(dim=(1, 2, 3)) / np.log(2), rtol=1e-10, atol=0)
    assert bits.shape == (3,) and (bits > 0).all()
    abar = torch.from_numpy(process.alphas_cumprod[index.numpy()]).view(-1, 1, 1, 1)
    torch.testing.assert_close(pred_xstart, (x - (1 - abar).sqrt() * eps) / abar.sqrt(), rtol=1e-12, atol=0)


def test_vb_term_at_zero_is_the_discretized_decoder_nll():
    """Hand case at the first step (linear schedule: σ = sqrt(beta_0) = 0.01): ε = 0 and v = 1 put the decoder's mean
    at x_0 / sqrt(abar_0); the edge bins -1 and 1 take the whole tail. scipy's exact normal CDF against the
    original's tanh approximation (|Δ CDF| < 1.8e-4 over [-8, 8])."""
    from scipy.stats import norm

    process = RespacedDiffusion.from_schedule("linear", 1000, "")
    target = torch.tensor([-1.0, 1.0, 0.0, 0.5], dtype=torch.float64).view(1, 1, 2, 2)
    means = torch.tensor([-0.995, 0.99, 0.003, 0.5], dtype=torch.float64).view(1, 1, 2, 2)
    x = means * np.sqrt(process.alphas_cumprod[0])
    output = torch.cat([torch.zeros_like(x), torch.ones_like(x)], 1)
    bits, _ = process.vb_terms_bpd(output, target, x, 0)
    sigma = 0.01
    upper, lower = (target - means + 1 / 255) / sigma, (target - means - 1 / 255) / sigma
    log_p = [np.log(norm.cdf(upper[0, 0, 0, 0])), np.log(norm.sf(lower[0, 0, 0, 1])),
             np.log(norm.cdf(upper[0, 0, 1, 0]) - norm.cdf(lower[0, 0, 1, 0])),
             np.log(norm.cdf(upper[0, 0, 1, 1]) - norm.cdf(lower[0, 0, 1, 1]))]
    expected = -np.mean(log_p) / np.log(2)
    assert expected == pytest.approx(1.624275, abs=1e-6)  # the hand case's value, so the comparison is not vacuous
    assert float(bits) == pytest.approx(expected, abs=2e-4)  # measured 6.2e-5: the tanh CDF approximation
    assert torch.equal(process.vb_terms_bpd(output, target, x, torch.tensor([0]))[0], bits)  # tensor index alike
    with pytest.raises(ValueError, match=r"share a shape, got \(1, 1, 2, 2\), \(1, 1, 2, 1\)"):
        discretized_gaussian_log_likelihood(target, means[..., :1], means)


def test_normal_kl_and_rescaled_timesteps():
    zero = torch.zeros(2, dtype=torch.float64)
    assert torch.equal(normal_kl(zero, 0.0, zero, 0.0), zero)
    kl = normal_kl(torch.tensor([1.0], dtype=torch.float64), np.log(4.0), zero[:1], 0.0)
    assert float(kl) == pytest.approx(0.5 * (-1 - np.log(4) + 4 + 1), rel=1e-12)
    t = rescaled_timesteps(torch.tensor([0, 16, 3999]), 4000)
    assert t.dtype == torch.float32 and t.tolist() == [0.0, 4.0, 999.75]
