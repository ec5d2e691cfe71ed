"""ConFiner-Long: shuffled base noise, coherence guidance against its gradient, staggered refinement windows."""
import pytest
import torch

from bench.methods.confiner.long import (DEFAULT_GAMMA, CoherenceGuidance, LongSettings, coherence_correction,
                                         shuffled_base_noise, staggered_refinement, staggered_windows)


def test_shuffled_noise_is_an_exact_frame_permutation_of_the_base():
    base = torch.randn(2, 4, 8, 3, 3, generator=torch.Generator().manual_seed(0))
    segments = shuffled_base_noise(base, 4, torch.Generator().manual_seed(1))
    assert len(segments) == 4 and torch.equal(segments[0], base)
    shuffled = 0
    for seg in segments:
        assert seg.shape == base.shape
        # each segment frame is exactly one base frame, each base frame used once (for every video of the batch)
        match = [[j for j in range(8) if torch.equal(seg[:, :, i], base[:, :, j])] for i in range(8)]
        assert all(len(m) == 1 for m in match)
        perm = [m[0] for m in match]
        assert sorted(perm) == list(range(8))
        shuffled += perm != list(range(8))
        assert torch.equal(seg.flatten().sort().values, base.flatten().sort().values)
    assert shuffled == 3


def test_coherence_correction_equals_gamma_times_the_autograd_gradient():
    g = torch.Generator().manual_seed(0)
    eps_hat = torch.randn(1, 4, 6, 5, 5, generator=g, dtype=torch.float64, requires_grad=True)
    eps_prev = torch.randn(1, 4, 6, 5, 5, generator=g, dtype=torch.float64)
    gamma = 0.07
    (grad,) = torch.autograd.grad(((eps_hat - eps_prev) ** 2).sum(), eps_hat)
    expected = eps_hat.detach() - gamma * grad
    assert torch.allclose(coherence_correction(eps_hat.detach(), eps_prev, gamma), expected, atol=1e-12)


def test_coherence_guidance_corrects_the_next_segment_at_the_same_timestep():
    guidance = CoherenceGuidance(gamma=0.25)
    model = guidance.wrap(lambda x, t: x + t)
    assert torch.equal(model(torch.zeros(3), 10), torch.full((3,), 10.0))  # first segment: untouched, recorded
    assert torch.equal(model(torch.zeros(3), 5), torch.full((3,), 5.0))
    guidance.next_segment()
    # ε = ε̂ − 2γ(ε̂ − ε_prev) = 0.5 ε̂ + 0.5 ε_prev
    assert torch.equal(model(torch.full((3,), 2.0), 10), torch.full((3,), 0.5 * 12 + 0.5 * 10))
    assert torch.equal(model(torch.zeros(3), 7), torch.full((3,), 7.0))  # no previous ε at t = 7
    assert DEFAULT_GAMMA == 0.05 and LongSettings().gamma == DEFAULT_GAMMA


def test_staggered_windows_join_half_segments_and_refine_every_frame_once():
    assert staggered_windows(3, 4) == [(0, 2), (2, 6), (6, 10), (10, 12)]
    assert staggered_windows(1, 16) == [(0, 8), (8, 16)]
    segments = [torch.full((1, 1, 4, 1, 1), float(k)) + torch.arange(4.0).view(1, 1, 4, 1, 1) / 10
                for k in range(3)]
    seen = []

    def refine(window):
        seen.append(window.clone())
        return window + 100

    out = staggered_refinement(segments, refine)
    assert torch.equal(out, torch.cat(segments, dim=2) + 100)  # each frame refined exactly once
    assert torch.equal(seen[1], torch.cat([segments[0][:, :, 2:], segments[1][:, :, :2]], dim=2))  # Eq. 13's join
    seen.clear()
    staggered_refinement(segments, refine, staggered=False)
    assert [w.shape[2] for w in seen] == [4, 4, 4] and torch.equal(seen[2], segments[2])


@pytest.mark.parametrize("kwargs, message", [
    ({"segment_length": 15}, r"segment_length must be an even number ≥ 2 .*got 15"),
    ({"num_segments": 0}, r"num_segments must be ≥ 1, got 0"),
    ({"gamma": 0.5}, r"gamma must be in \[0, 0.5\) .*got 0.5"),
])
def test_long_settings_errors_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LongSettings(**kwargs)
