"""DPMs-ANT's sampler: diffusers' DDIMScheduler(eta=1) as configured equals image_generator.py's generalised step,
checked against that step written out (x̂0 clipped, c1/c2 coefficients, ᾱ_{−1} = 1) over all 500 steps."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("diffusers")

from bench.methods.dpms_ant.sampling import generalized_scheduler, sample  # noqa: E402


def _official_alphas() -> torch.Tensor:
    """image_generator.py:57-62: float64 linear β cast to float32, a zero β prepended, cumulative product."""
    betas = torch.from_numpy(np.linspace(0.0001, 0.02, 1000, dtype=np.float64)).float()
    return (1 - torch.cat([torch.zeros(1), betas])).cumprod(dim=0)


def _eps_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return 0.7 * x + 0.3 * torch.sin(x * 3.0 + t.view(-1, 1, 1, 1).float() / 300)


def _official_sample(shape, generator, eta=1.0, steps=500):
    a_s = _official_alphas()
    seq = list(range(0, 1000, 1000 // steps))
    seq_next = [-1] + seq[:-1]
    x = torch.randn(shape, generator=generator)
    for i, j in zip(reversed(seq), reversed(seq_next), strict=True):
        noise = torch.randn(shape, generator=generator)
        at, at_next = a_s[i + 1], a_s[j + 1]
        et = _eps_model(x, torch.full((shape[0],), i))
        x0_t = ((x - et * (1 - at).sqrt()) / at.sqrt()).clip(-1, 1)
        c1 = eta * ((1 - at / at_next) * (1 - at_next) / (1 - at)).sqrt()
        c2 = ((1 - at_next) - c1 ** 2).sqrt()
        x = at_next.sqrt() * x0_t + c1 * noise + c2 * et
    return x


def test_scheduler_timesteps_and_alphas_are_the_official_ones():
    scheduler = generalized_scheduler()
    assert scheduler.timesteps.tolist() == list(reversed(range(0, 1000, 2)))
    assert torch.equal(scheduler.alphas_cumprod, _official_alphas()[1:])
    assert float(scheduler.final_alpha_cumprod) == 1.0


@pytest.mark.parametrize("eta", [1.0, 0.0])
def test_sample_equals_the_official_generalised_step(eta):
    shape = (2, 3, 4, 4)
    got = sample(_eps_model, shape, torch.Generator().manual_seed(0), eta=eta)
    want = _official_sample(shape, torch.Generator().manual_seed(0), eta=eta)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert float(got.abs().max()) <= 1.0 + 1e-4


def test_sample_steps_must_divide_the_training_steps():
    with pytest.raises(ValueError, match="sample_steps must divide num_train_timesteps"):
        generalized_scheduler(1000, 300)
