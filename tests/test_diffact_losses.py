"""DiffAct's training targets and loss terms against direct computations."""
import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter1d

from bench.methods.diffact.losses import (boundary_loss, boundary_target, class_weights, classification_loss,
                                          smoothing_loss, soft_targets)


def test_boundary_target_marks_both_frames_of_each_change():
    labels = np.array([3, 3, 3, 1, 1, 2, 2, 2])
    assert boundary_target(labels, None).tolist() == [0, 0, 1, 1, 1, 1, 0, 0]
    assert boundary_target(np.array([4, 4, 4]), 2.0).tolist() == [0, 0, 0]  # one segment: no boundary


def test_boundary_target_smoothing_caps_at_an_isolated_peak():
    labels = np.repeat([0, 1, 2], [20, 3, 20])  # two boundaries 3 frames apart overlap after smoothing
    target = boundary_target(labels, 2.0)
    raw = np.zeros(43)
    raw[[19, 20, 22, 23]] = 1
    isolated = np.zeros(43)
    isolated[[20, 21]] = 1
    cap = gaussian_filter1d(isolated, 2.0).max()
    expected = np.minimum(gaussian_filter1d(raw, 2.0), cap)
    np.testing.assert_allclose(target, expected / expected.max())
    assert target.max() == 1.0


def test_class_weights_formula():
    weights = class_weights([np.array([0, 0, 0, 1]), np.array([1, 1, 2, 2, 2, 2])], num_classes=4)
    # N = 10 frames, counts (3, 3, 4, 0): w_c = 10 / ((n_c + 10) * 4)
    np.testing.assert_allclose(weights, [10 / 52, 10 / 52, 10 / 56, 10 / 40])


def test_classification_loss_hard_ignores_unknown_frames_but_counts_them_in_the_mean():
    torch.manual_seed(0)
    logits, labels = torch.randn(1, 3, 5), torch.tensor([[0, 2, -100, 1, 1]])
    weights = torch.tensor([1.0, 2.0, 0.5])
    per_frame = [weights[c] * -F.log_softmax(logits[0, :, i], 0)[c] for i, c in enumerate(labels[0].tolist()) if c >= 0]
    torch.testing.assert_close(classification_loss(logits, labels, weights, None), sum(per_frame) / 5)


def test_classification_loss_soft_labels_are_unnormalised_smoothed_one_hots():
    torch.manual_seed(0)
    logits, labels = torch.randn(1, 3, 12), torch.tensor([[0] * 5 + [2] * 7])
    one_hot = F.one_hot(labels, 3).permute(0, 2, 1).float()
    soft = soft_targets(one_hot, 1.4)
    torch.testing.assert_close(soft[0, 2].numpy(), gaussian_filter1d(one_hot[0, 2].numpy(), 1.4))
    expected = -(soft * F.log_softmax(logits, 1)).sum(1).mean()
    torch.testing.assert_close(classification_loss(logits, labels, torch.ones(3), soft), expected)


def test_smoothing_loss_is_truncated_at_16():
    logits = torch.zeros(1, 2, 4)
    logits[0, 0, 2] = 50.0  # a jump between frames 1 and 2 and back at 3
    mse = (F.log_softmax(logits[:, :, 1:], 1) - F.log_softmax(logits[:, :, :-1], 1)) ** 2
    torch.testing.assert_close(smoothing_loss(logits), mse.clamp(max=16).mean())
    assert float(mse.max()) > 16


def test_boundary_loss_is_bce_of_one_minus_agreement():
    torch.manual_seed(0)
    logits, target = torch.randn(1, 4, 6), torch.rand(1, 1, 6)
    probs = F.softmax(logits, 1)
    agreement = (probs[:, :, 1:] * probs[:, :, :-1]).sum(1, keepdim=True)
    expected = F.binary_cross_entropy(1 - agreement, target[:, :, 1:])
    torch.testing.assert_close(boundary_loss(logits, target), expected)
