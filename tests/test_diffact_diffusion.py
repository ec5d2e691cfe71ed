"""DiffAct's schedule, DDIM step and time pairs against direct formulas."""
import math

import torch

from bench.methods.diffact.diffusion import (GaussianDiffusionBuffers, cosine_beta_schedule, ddim_time_pairs,
                                             from_signal, to_signal)


def test_cosine_schedule_against_its_formula():
    betas = cosine_beta_schedule(1000)

    def alpha_bar(t: float) -> float:
        return math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2

    for t in (0, 1, 500, 998):
        assert abs(float(betas[t]) - (1 - alpha_bar(t + 1) / alpha_bar(t))) < 1e-12
    assert float(betas[-1]) == 0.999  # clipped


def test_ddim_time_pairs_of_the_default_chain():
    pairs = ddim_time_pairs(1000, 25)
    assert len(pairs) == 25 and pairs[0] == (999, 959) and pairs[1] == (959, 919) and pairs[-1] == (39, -1)
    assert ddim_time_pairs(10, 10) == [(9, 8), (8, 7), (7, 6), (6, 5), (5, 4), (4, 3), (3, 2), (2, 1), (1, 0), (0, -1)]


def test_ddim_step_against_direct_formula():
    buffers = GaussianDiffusionBuffers(1000)
    torch.manual_seed(0)
    x0, eps, z = torch.randn(3, 1, 4, 6).unbind(0)
    t, t_next, eta = 759, 719, 0.7
    a, a_next = float(buffers.alphas_cumprod[t]), float(buffers.alphas_cumprod[t_next])
    sigma = eta * math.sqrt((1 - a / a_next) * (1 - a_next) / (1 - a))
    expected = math.sqrt(a_next) * x0 + math.sqrt(1 - a_next - sigma ** 2) * eps + sigma * z
    torch.testing.assert_close(buffers.ddim_step(x0, eps, t, t_next, eta, z), expected)
    # eta = 0 is deterministic DDIM: the noise has no weight
    torch.testing.assert_close(buffers.ddim_step(x0, eps, t, t_next, 0.0, z), buffers.ddim_step(x0, eps, t, t_next, 0.0,
                                                                                                 100 * z))


def test_q_sample_and_noise_from_start_invert_each_other():
    buffers = GaussianDiffusionBuffers(1000)
    x0, noise = torch.rand(2, 5, 9), torch.randn(2, 5, 9)
    t = torch.tensor([3, 640])
    x_t = buffers.q_sample(x0, t, noise)
    assert x_t.dtype == torch.float64  # float64 buffers promote, as in the official code (the decoder casts back)
    a = buffers.alphas_cumprod[t].reshape(2, 1, 1)
    torch.testing.assert_close(x_t, a.sqrt() * x0 + (1 - a).sqrt() * noise)
    torch.testing.assert_close(buffers.noise_from_start(x_t, t, x0), noise.double())


def test_signal_maps_are_inverse():
    probs = torch.tensor([0.0, 0.25, 1.0])
    torch.testing.assert_close(to_signal(probs, 0.5), torch.tensor([-0.5, -0.25, 0.5]))
    torch.testing.assert_close(from_signal(to_signal(probs, 0.5), 0.5), probs)
