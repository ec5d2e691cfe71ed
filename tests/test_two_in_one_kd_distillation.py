"""Distillation losses and the homogenized gradient step (bench.methods.two_in_one_kd.distillation)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.two_in_one_kd.distillation import (
    backward_with_homogenization,
    distillation_losses,
    feature_loss,
    logit_distillation,
    projector_targets,
)
from bench.methods.two_in_one_kd.homogenization import homogenize


def test_each_mode_has_its_projectors():
    assert projector_targets("none") == {}
    assert projector_targets("naive_both") == {"both": ("spatial", "frequency")}
    assert set(projector_targets("dedicated")) == {"spatial", "frequency"}
    with pytest.raises(ValueError, match="naive_both"):
        projector_targets("both")


def test_feature_loss_is_the_squared_distance_of_normalised_features():
    a, b = torch.tensor([[3.0, 4.0], [0.0, 2.0]]), torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    # normalised: [0.6, 0.8] vs [1, 0] -> 0.4^2 + 0.8^2 = 0.8 = 2 - 2 cos; identical directions -> 0
    assert feature_loss(a, b).item() == pytest.approx(0.8 / 2)
    assert feature_loss(a, b, feature_norm=False).item() == pytest.approx((2.0**2 + 4.0**2 + 3.0**2) / 2)


def test_logit_distillation_matches_hintons_formula():
    student, teacher, t = torch.tensor([0.5, -2.0]), torch.tensor([3.0, -1.0]), 4.0
    p = torch.sigmoid(teacher / t)
    q = torch.sigmoid(student / t)
    expected = -(p * q.log() + (1 - p) * (1 - q).log()).mean() * t**2
    torch.testing.assert_close(logit_distillation(student, teacher, t), expected)


def test_naive_both_targets_the_concatenated_teacher_features():
    torch.manual_seed(0)
    teacher = {"spatial": torch.randn(4, 3), "frequency": torch.randn(4, 2)}
    projectors = nn.ModuleDict({"both": nn.Linear(5, 5)})
    features = torch.randn(4, 5)
    losses = distillation_losses(features, teacher, projectors, "naive_both")
    expected = feature_loss(projectors["both"](features), torch.cat([teacher["spatial"], teacher["frequency"]], 1))
    torch.testing.assert_close(losses["both"], expected)


def _setup():
    torch.manual_seed(0)
    backbone, head = nn.Linear(4, 3), nn.Linear(3, 1)
    projectors = nn.ModuleDict({"spatial": nn.Linear(3, 2), "frequency": nn.Linear(3, 2)})
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 0, 1, 1, 0.0])
    teacher = {"spatial": torch.randn(6, 2), "frequency": -torch.randn(6, 2)}
    features = backbone(x)
    classification = F.binary_cross_entropy_with_logits(head(features).squeeze(1), y)
    distill = distillation_losses(features, teacher, projectors, "dedicated")
    return backbone, head, projectors, classification, distill


@pytest.mark.parametrize("mode", ["none", "equal_norm", "project", "both"])
def test_shared_gradient_is_classification_plus_homogenized_distillation(mode):
    backbone, head, projectors, classification, distill = _setup()
    weights = {"spatial": 0.5, "frequency": 2.0}
    shared, others = list(backbone.parameters()), list(head.parameters()) + list(projectors.parameters())
    g_cls = torch.autograd.grad(classification, shared, retain_graph=True)
    g_s = torch.autograd.grad(0.5 * distill["spatial"], shared, retain_graph=True)
    g_f = torch.autograd.grad(2.0 * distill["frequency"], shared, retain_graph=True)
    h_s, h_f = homogenize(g_s, g_f, mode)
    total = classification + 0.5 * distill["spatial"] + 2.0 * distill["frequency"]
    g_others = torch.autograd.grad(total, others, retain_graph=True)
    log = backward_with_homogenization(classification, distill, weights, shared, others, mode)
    for param, c, s, f in zip(shared, g_cls, h_s, h_f, strict=True):
        torch.testing.assert_close(param.grad, c + s + f)
    for param, g in zip(others, g_others, strict=True):  # head and projectors: the plain gradient of the total loss
        torch.testing.assert_close(param.grad, g)
    assert -1.0 <= log["distill_cosine"] <= 1.0


def test_homogenization_needs_the_two_dedicated_losses():
    backbone, head, projectors, classification, distill = _setup()
    one = {"spatial": distill["spatial"]}
    with pytest.raises(ValueError, match="dedicated"):
        backward_with_homogenization(classification, one, {}, backbone.parameters(), head.parameters(), "project")
    log = backward_with_homogenization(classification, one, {}, backbone.parameters(), head.parameters(), "none")
    assert math.isnan(log["distill_cosine"])
