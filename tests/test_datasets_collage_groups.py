"""CollageGroups: seeded groups of g*g samples of any reader, with the tail left out and recorded."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.datasets.collage_groups import CollageGroups
from bench.datasets.digits import Digits


def test_groups_are_a_seeded_partition_of_the_source():
    source = Digits("test")                                   # 500 images
    groups = CollageGroups(dict(type="Digits", split="test"), grid=3, seed=0)
    assert len(groups) == 55 and groups.describe()["source_samples_left_out"] == 5
    members = groups.members.flatten()
    assert len(set(members.tolist())) == 495
    np.testing.assert_array_equal(groups.members[0], np.random.default_rng(0).permutation(500)[:9])
    item = groups[1]
    assert item["images"].shape == (9, 1, 8, 8) and item["targets"].dtype == torch.int64
    first = int(groups.members[1][0])
    assert torch.equal(item["images"][0], source[first]["image"])
    assert item["tile_ids"].split("|")[0] == source.sample_id(first)
    assert groups.sample_id(1) == f"g3-00001-{source.sample_id(first)}"
    assert CollageGroups(dict(type="Digits", split="test"), grid=3, seed=0).fingerprint() == groups.fingerprint()
    assert CollageGroups(dict(type="Digits", split="test"), grid=3, seed=1).fingerprint() != groups.fingerprint()


def test_sequential_order_num_groups_and_bad_settings():
    groups = CollageGroups(dict(type="Digits", split="test"), grid=2, order="sequential", num_groups=3)
    assert groups.members.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    with pytest.raises(ValueError, match="grid must be one of \\(2, 3\\)"):
        CollageGroups(dict(type="Digits", split="test"), grid=4)
    with pytest.raises(ValueError, match="order must be 'seeded' or 'sequential'"):
        CollageGroups(dict(type="Digits", split="test"), order="shuffled")
