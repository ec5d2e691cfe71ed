"""Gradient homogenization (bench.methods.two_in_one_kd.homogenization) against the direct formulas."""
from __future__ import annotations

import pytest
import torch

from bench.methods.two_in_one_kd.homogenization import (
    cosine,
    equal_norm,
    homogenize,
    project_conflicts,
)


def grads(*vectors):
    """Split each flat vector into two 'parameters' of shapes [2] and [1, 2], as a model's gradient list."""
    return [[torch.tensor(v[:2], dtype=torch.float64), torch.tensor([v[2:]], dtype=torch.float64)] for v in vectors]


def flat(grad):
    return torch.cat([g.reshape(-1) for g in grad])


def test_equal_norm_rescales_both_to_the_mean_norm_keeping_directions():
    a, b = grads([3.0, 0.0, 4.0, 0.0], [0.0, 1.0, 0.0, 0.0])  # norms 5 and 1 -> both 3
    ea, eb = equal_norm(a, b)
    torch.testing.assert_close(flat(ea), torch.tensor([1.8, 0.0, 2.4, 0.0], dtype=torch.float64))
    torch.testing.assert_close(flat(eb), torch.tensor([0.0, 3.0, 0.0, 0.0], dtype=torch.float64))
    assert [g.shape for g in ea] == [torch.Size([2]), torch.Size([1, 2])]


def test_equal_norm_keeps_a_zero_gradient_zero():
    a, b = grads([0.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0])
    ea, eb = equal_norm(a, b)
    assert flat(ea).abs().sum() == 0 and flat(eb).norm().item() == pytest.approx(1.0)


def test_projection_removes_the_conflicting_components_only_when_they_conflict():
    a, b = grads([1.0, 0.0, 0.0, 0.0], [-1.0, 1.0, 0.0, 0.0])  # a . b = -1 < 0
    pa, pb = project_conflicts(a, b)
    va, vb = flat(a), flat(b)
    expected_a = va - va.dot(vb) / vb.dot(vb) * vb  # [0.5, 0.5, 0, 0]
    expected_b = vb - va.dot(vb) / va.dot(va) * va  # [0, 1, 0, 0]
    torch.testing.assert_close(flat(pa), expected_a)
    torch.testing.assert_close(flat(pb), expected_b)
    assert flat(pa).dot(vb).item() == pytest.approx(0.0) and flat(pb).dot(va).item() == pytest.approx(0.0)
    c, d = grads([1.0, 1.0, 0.0, 0.0], [1.0, -0.5, 0.0, 0.0])  # a . b = 0.5 >= 0: untouched
    pc, pd = project_conflicts(c, d)
    torch.testing.assert_close(flat(pc), flat(c))
    torch.testing.assert_close(flat(pd), flat(d))


def test_modes_compose_and_unknown_modes_are_refused():
    a, b = grads([2.0, 0.0, 0.0, 0.0], [-1.0, 3.0, 0.0, 0.0])
    none_a, none_b = homogenize(a, b, "none")
    torch.testing.assert_close(flat(none_a), flat(a))
    both_a, both_b = homogenize(a, b, "both")
    pa, pb = project_conflicts(a, b)
    ea, eb = equal_norm(pa, pb)
    torch.testing.assert_close(flat(both_a), flat(ea))
    torch.testing.assert_close(flat(both_b), flat(eb))
    assert flat(both_a).norm().item() == pytest.approx(flat(both_b).norm().item())
    with pytest.raises(ValueError, match="equal_norm"):
        homogenize(a, b, "gradnorm")


def test_cosine_signals_conflict():
    a, b = grads([1.0, 0.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0])
    assert cosine(a, b) == pytest.approx(-1.0)
    assert cosine(*grads([1.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0])) == pytest.approx(0.0)
