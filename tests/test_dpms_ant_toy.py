"""DPMs-ANT's 2-D toy: the similarity-guided target and the adversarial noise steps against direct formulas, the
renormalisation rules, and a miniature end-to-end run."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from bench.methods.dpms_ant import objectives, toy


class LinearModel(nn.Module):
    """x -> x @ A.T (t ignored): its gradients have closed forms."""

    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__()
        self.matrix = matrix

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return x @ self.matrix.T


def _abar() -> torch.Tensor:
    return torch.linspace(0.99, 0.01, 1000, dtype=torch.float64)


def test_guided_target_matches_the_softmax_gradient_formula():
    weights = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64)  # logits = x @ W.T
    x_t = torch.tensor([[0.3, -0.7], [1.5, 0.2], [-2.0, 1.0]], dtype=torch.float64)
    eps = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 2.0]], dtype=torch.float64)
    t = torch.tensor([0, 500, 999])
    abar = _abar()
    got = objectives.similarity_target(eps, x_t, t, LinearModel(weights), abar, gamma=5.0)  # the toy's target
    probs = torch.softmax(x_t @ weights.T, dim=1)
    grad_log_p0 = weights[0] - probs @ weights  # d/dx log softmax_0 = w_0 - sum_k p_k w_k
    expected = eps - 5.0 * (1 - abar[t])[:, None] * grad_log_p0
    torch.testing.assert_close(got, expected)
    assert toy.TARGET_LABEL == 0


def test_one_adversarial_step_matches_the_direct_gradient_and_batch_renormalisation():
    matrix = torch.tensor([[0.8, 0.1], [-0.3, 0.5]], dtype=torch.float64)
    x0 = torch.tensor([[-1.0, -1.2], [0.5, -0.4], [-2.0, 0.3], [0.1, 0.9]], dtype=torch.float64)
    eps = torch.tensor([[0.2, -1.0], [1.1, 0.4], [-0.6, 0.7], [0.3, -0.2]], dtype=torch.float64)
    t = torch.tensor([100, 899, 400, 599])
    abar = _abar()
    got, t_out = toy.adversarial_noise(LinearModel(matrix), x0, eps, t, abar, torch.Generator().manual_seed(0),
                                       steps=1, omega=0.02, resample_t=False, renorm="batch")
    a = abar[t][:, None]
    x_t = a.sqrt() * x0 + (1 - a).sqrt() * eps
    residual = eps - x_t @ matrix.T  # L = mean_b |eps - A x_t|^2, x_t depends on eps
    grad = 2 * (residual - (1 - a).sqrt() * (residual @ matrix)) / len(x0)
    stepped = eps + 0.02 * grad
    expected = (stepped - stepped.mean(0)) / stepped.std(0)
    torch.testing.assert_close(got, expected)
    assert torch.equal(t_out, t)


def test_later_adversarial_steps_follow_the_codes_detached_xt_and_resample_t():
    matrix = torch.tensor([[0.8, 0.1], [-0.3, 0.5]], dtype=torch.float64)
    x0 = torch.tensor([[-1.0, -1.2], [0.5, -0.4], [-2.0, 0.3]], dtype=torch.float64)
    eps = torch.tensor([[0.2, -1.0], [1.1, 0.4], [-0.6, 0.7]], dtype=torch.float64)
    t = torch.tensor([100, 899, 400])
    abar, model = _abar(), LinearModel(matrix)
    first, _ = toy.adversarial_noise(model, x0, eps, t, abar, torch.Generator().manual_seed(0), steps=1,
                                     resample_t=False, renorm="batch")
    second, _ = toy.adversarial_noise(model, x0, eps, t, abar, torch.Generator().manual_seed(0), steps=2,
                                      resample_t=False, renorm="batch", adv_grad="code")
    x_t = objectives.q_sample(x0, t, first, abar)
    stepped = first + 0.02 * 2 * (first - x_t @ matrix.T) / len(x0)  # direct term only: x_t is a detached leaf
    torch.testing.assert_close(second, (stepped - stepped.mean(0)) / stepped.std(0))
    full, _ = toy.adversarial_noise(model, x0, eps, t, abar, torch.Generator().manual_seed(0), steps=2,
                                    resample_t=False, renorm="batch", adv_grad="full")
    assert not torch.allclose(full, second)
    generator = torch.Generator().manual_seed(3)
    _, resampled = toy.adversarial_noise(model, x0, eps, t, abar, generator, steps=2)
    replay = torch.Generator().manual_seed(3)
    toy.antithetic_timesteps(3, 1000, replay)
    assert torch.equal(resampled, toy.antithetic_timesteps(3, 1000, replay))  # t of the last inner step


def test_renormalisation_rules_and_the_2d_degeneracy_of_per_sample():
    eps = torch.tensor([[0.3, 2.0], [-1.0, 0.5], [4.0, -3.0]])
    batch = objectives.renormalise(eps, "batch")
    torch.testing.assert_close(batch.mean(0), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(batch.std(0), torch.ones(2))
    per_sample = objectives.renormalise(eps, "sample")
    torch.testing.assert_close(per_sample.abs(), torch.full((3, 2), 1 / math.sqrt(2)))
    with pytest.raises(ValueError, match=r"renormalisation must be one of \('sample', 'batch'\), got 'pixel'"):
        objectives.renormalise(eps, "pixel")
    with pytest.raises(ValueError, match=r"adv_grad must be one of \['code', 'full'\], got 'none'"):
        toy.adversarial_noise(nn.Identity(), eps, eps, torch.zeros(3, dtype=torch.long), _abar(),
                              torch.Generator(), adv_grad="none")


def test_antithetic_timesteps_pair_t_with_T_minus_1_minus_t():
    t = toy.antithetic_timesteps(5, 1000, torch.Generator().manual_seed(1))
    assert t.shape == (5,)
    assert torch.equal(t[3:], 999 - t[:2])


def test_method_loss_rejects_unknown_method_and_missing_classifier():
    model = toy.TimeMLP()
    x0 = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="method must be one of"):
        toy.method_loss("dcl", model, x0, _abar().float(), torch.Generator())
    with pytest.raises(ValueError, match="'ant_no_an' needs the domain classifier"):
        toy.method_loss("ant_no_an", model, x0, _abar().float(), torch.Generator())


def test_angle_degrees():
    assert toy.angle_degrees(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])) == pytest.approx(45.0)
    assert toy.angle_degrees(torch.tensor([1.0, 0.0]), torch.tensor([-2.0, 0.0])) == pytest.approx(180.0)


def test_miniature_run_writes_angles_samples_and_histogram(tmp_path):
    torch.set_num_threads(1)
    sizes = {"source_steps": 20, "source_batch": 32, "classifier_steps": 10, "transfer_steps": 2,
             "angle_repeats": 4, "reference_samples": 200, "num_samples": 100, "sample_steps": 5}
    result = toy.run_toy(tmp_path, seed=0, log=lambda line: None, **sizes)
    unguided = toy.run_toy(tmp_path / "unguided", seed=0, gamma=0.0, log=lambda line: None, **sizes)
    assert unguided["angles"]["ddpm"] == result["angles"]["ddpm"]  # seeded
    # gamma = 0 makes ANT w/o AN plain fine-tuning; the methods share each draw's eps and t, so angles pair exactly
    assert unguided["paired_with_ddpm"]["ant_no_an_minus_ddpm"]["mean_deg"] == 0.0
    assert result["paired_with_ddpm"]["ant_no_an_minus_ddpm"]["mean_deg"] != 0.0
    assert set(result["angles"]) == set(toy.METHODS)
    assert all(0.0 <= a["mean_deg"] <= 180.0 for a in result["angles"].values())
    assert set(result["samples"]) == {"source", *toy.METHODS}
    assert (tmp_path / "toy_hist.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "toy.json").read_text())["settings"]["num_samples"] == 100
    with pytest.raises(ValueError, match=r"unknown size keys \['iterations'\]"):
        toy.run_toy(tmp_path, iterations=3)
