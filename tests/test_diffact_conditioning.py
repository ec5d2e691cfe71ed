"""DiffAct's condition-masking types."""
import numpy as np
import pytest
import torch

from bench.methods.diffact.conditioning import check_cond_types, condition_mask

LABELS = torch.tensor([0, 0, 0, 2, 2, 1, 1, 1, 1, 2])
BOUNDARY = torch.tensor([0.0, 0.1, 0.6, 0.6, 0.3, 0.35, 0.2, 0.0, 0.5, 0.49])


def mask(cond_type: str, seed: int = 0) -> torch.Tensor | None:
    return condition_mask(cond_type, LABELS, BOUNDARY, np.random.default_rng(seed))


def test_full_and_zero():
    assert mask("full") is None
    assert torch.equal(mask("zero"), torch.zeros(1, 1, 10))


def test_boundary_thresholds_mask_frames_at_or_above():
    assert mask("boundary03-").flatten().tolist() == [1, 1, 0, 0, 0, 0, 1, 1, 0, 0]
    assert mask("boundary05-").flatten().tolist() == [1, 1, 0, 0, 1, 1, 1, 1, 0, 1]


def test_segment_masks_every_frame_of_the_drawn_classes():
    for seed in range(10):
        kept = mask("segment=1", seed).flatten().bool()
        dropped = set(LABELS[~kept].tolist())
        assert len(dropped) == 1 and set(LABELS[kept].tolist()).isdisjoint(dropped)
    # two draws with replacement: one or two classes masked, and over seeds both happen
    counts = {len(set(LABELS[~mask("segment=2", seed).flatten().bool()].tolist())) for seed in range(30)}
    assert counts == {1, 2}


def test_unknown_types_are_rejected():
    with pytest.raises(ValueError, match="drawn from"):
        check_cond_types(["full", "boundary"])
    with pytest.raises(ValueError, match="unknown cond_type"):
        mask("segment")
