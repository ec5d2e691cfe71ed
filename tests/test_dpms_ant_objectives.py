"""DPMs-ANT's objective: the similarity-guided target, adversarial noise selection and the ablation switches,
each against a hand computation on a linear model whose gradients are written out."""
from __future__ import annotations

import pytest
import torch

from bench.methods.dpms_ant.objectives import (ABLATIONS, AntObjective, ablation, adversarial_noise, ant_loss,
                                               antithetic_timesteps, eps_loss, q_sample, renormalise,
                                               similarity_target)
from bench.methods.dpms_ant.training import linear_alphas_cumprod

T = 1000
ALPHAS = linear_alphas_cumprod(T)


class LinearEps(torch.nn.Module):
    """ε̂(x_t, t) = A x_t (t ignored): its gradients have a closed form."""

    def __init__(self, dim: int = 6) -> None:
        super().__init__()
        self.A = torch.nn.Parameter(torch.randn(dim, dim, generator=torch.Generator().manual_seed(1)) * 0.3)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (x.flatten(1) @ self.A.T).view_as(x)


class LinearClassifier(torch.nn.Module):
    """logits = W x + b."""

    def __init__(self, dim: int = 6) -> None:
        super().__init__()
        self.W = torch.nn.Parameter(torch.randn(2, dim, generator=torch.Generator().manual_seed(2)))
        self.b = torch.nn.Parameter(torch.tensor([0.3, -0.2]))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.W.T + self.b


def _hand_renorm(v: torch.Tensor) -> torch.Tensor:
    flat = v.flatten(1)
    n = flat.shape[1]
    mean = flat.sum(1, keepdim=True) / n
    std = (((flat - mean) ** 2).sum(1, keepdim=True) / (n - 1)).sqrt()
    return ((flat - mean) / std).view_as(v)


def test_similarity_target_matches_its_formula():
    torch.manual_seed(0)
    clf = LinearClassifier()
    x_t, eps = torch.randn(4, 6), torch.randn(4, 6)
    t = torch.tensor([0, 250, 600, 999])
    got = similarity_target(eps, x_t, t, clf, ALPHAS, gamma=5.0)
    with torch.no_grad():  # ∇_x log softmax(Wx + b)_0 = W_0 − Σ_k p_k W_k
        p = torch.softmax(x_t @ clf.W.T + clf.b, dim=1)
        grad = clf.W[0] - p @ clf.W
        want = eps - 5.0 * (1 - ALPHAS[t]).view(-1, 1) * grad
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not got.requires_grad and clf.W.grad is None  # detached; the classifier gets no gradient
    # variance, not std: at t = 999 the scale is 1 − ᾱ, which differs from √(1 − ᾱ) only below 1
    small = torch.tensor([10, 10, 10, 10])
    shift = eps - similarity_target(eps, x_t, small, clf, ALPHAS, gamma=1.0)
    torch.testing.assert_close(shift, (1 - ALPHAS[10]) * grad, rtol=1e-5, atol=1e-7)


def test_antithetic_timesteps_pair_t_with_T_minus_1_minus_t():
    torch.manual_seed(3)
    t = antithetic_timesteps(7, T)
    assert t.shape == (7,) and int(t.min()) >= 0 and int(t.max()) < T
    torch.testing.assert_close(t[:3] + t[4:7], torch.full((3,), T - 1))  # ⌊7/2⌋+1 = 4 draws, then T−1−t


def _direct_ascent(model: LinearEps, x0, noise, t, steps, omega, resample, full):
    """The official inner loop written out: the gradient of mean_b Σ(ε − A x_t)² with x_t = a x0 + s ε is
    2/B (I − s A)ᵀ r through x_t, 2/B r through the target only, r = ε − A x_t."""
    A, B = model.A.detach(), len(x0)
    for step in range(steps):
        s = (1 - ALPHAS[t]).sqrt().view(-1, 1)
        x_t = ALPHAS[t].sqrt().view(-1, 1) * x0 + s * noise
        r = noise - x_t @ A.T
        grad = 2.0 / B * r
        if full or step == 0:
            grad = grad - 2.0 / B * s * (r @ A)
        noise = _hand_renorm(noise + omega * grad)
        if resample:
            t = antithetic_timesteps(B, T)
    return noise, ALPHAS[t].sqrt().view(-1, 1) * x0 + (1 - ALPHAS[t]).sqrt().view(-1, 1) * noise, t


@pytest.mark.parametrize("resample,grad", [(True, "official"), (False, "official"), (False, "full")])
def test_adversarial_noise_matches_a_direct_loop(resample, grad):
    model = LinearEps()
    x0, noise = torch.randn(4, 6, generator=torch.Generator().manual_seed(5)), torch.randn(4, 6)
    t = torch.tensor([100, 400, 899, 599])
    torch.manual_seed(11)
    got = adversarial_noise(model, x0, noise, t, ALPHAS, 0.3, 4, resample_t=resample, ascent_grad=grad)
    torch.manual_seed(11)
    want = _direct_ascent(model, x0, noise, t, 4, 0.3, resample, grad == "full")
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    assert model.A.grad is None  # the ascent differentiates ε only
    noise_out, _, t_out = got
    torch.testing.assert_close(noise_out.mean(1), torch.zeros(4), atol=1e-6, rtol=0)
    torch.testing.assert_close(noise_out.std(1), torch.ones(4))
    if resample:
        assert not torch.equal(t_out, t)
    else:
        assert torch.equal(t_out, t)


def test_full_and_official_ascent_differ_after_the_first_step():
    model, x0, t = LinearEps(), torch.randn(4, 6), torch.tensor([700, 800, 900, 999])
    noise = torch.randn(4, 6)
    one = [adversarial_noise(model, x0, noise, t, ALPHAS, 0.5, 1, resample_t=False, ascent_grad=g)[0]
           for g in ("official", "full")]
    two = [adversarial_noise(model, x0, noise, t, ALPHAS, 0.5, 2, resample_t=False, ascent_grad=g)[0]
           for g in ("official", "full")]
    torch.testing.assert_close(one[0], one[1])
    assert (two[0] - two[1]).abs().max() > 1e-4


def test_renormalise_is_per_sample_zero_mean_unit_bessel_std():
    v = torch.tensor([[1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 1.0, -1.0]])
    torch.testing.assert_close(renormalise(v), _hand_renorm(v))
    # sample 0: mean 3, Bessel std √(14/3)
    torch.testing.assert_close(renormalise(v)[0], (v[0] - 3.0) / (14 / 3) ** 0.5)


def test_eps_loss_sums_per_sample_and_averages_over_batch():
    pred, target = torch.zeros(2, 3), torch.tensor([[1.0, 2.0, 2.0], [0.0, 0.0, 3.0]])
    assert float(eps_loss(pred, target)) == pytest.approx((9.0 + 9.0) / 2)


class ConstantClassifier(torch.nn.Module):
    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), 2) + 0.0 * x.flatten(1).sum(1, keepdim=True)


@pytest.mark.parametrize("objective,classifier", [
    (ablation("adaptor_only"), None), (ablation("full_finetune"), None),
    (ablation("ant_no_an"), ConstantClassifier()), (ablation("ant", adversarial=False, gamma=0.0), LinearClassifier()),
    (ablation("ant", ascent_steps=0), ConstantClassifier())])
def test_ablations_without_guidance_or_noise_are_the_plain_eps_loss(objective, classifier):
    model, x0 = LinearEps(), torch.randn(6, 6, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(21)
    got = ant_loss(model, x0, ALPHAS, objective, classifier)
    torch.manual_seed(21)
    noise = torch.randn_like(x0)
    t = antithetic_timesteps(6, T)
    want = eps_loss(model(q_sample(x0, t, noise, ALPHAS), t), noise)
    torch.testing.assert_close(got, want)


def test_ant_loss_guided_and_adversarial_differs_from_plain():
    model, clf, x0 = LinearEps(), LinearClassifier(), torch.randn(6, 6)
    losses = []
    for name in ("adaptor_only", "ant_no_an", "ant"):
        torch.manual_seed(21)
        losses.append(float(ant_loss(model, x0, ALPHAS, ablation(name), clf).detach()))
    assert len({round(v, 6) for v in losses}) == 3
    assert set(ABLATIONS) == {"adaptor_only", "full_finetune", "ant_no_an", "ant"}


def test_bad_objective_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="needs the stage-1 domain classifier"):
        ant_loss(LinearEps(), torch.randn(2, 6), ALPHAS, AntObjective(), None)
    with pytest.raises(ValueError, match="ascent_grad must be one of"):
        AntObjective(ascent_grad="half")
    with pytest.raises(ValueError, match=r"unknown DPMs-ANT ablation 'ant_an'.*'ant_no_an'"):
        ablation("ant_an")
