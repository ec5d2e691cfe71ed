"""The digits memorization set: seeded construction, planted duplicates and motifs, and the prompt set's ground
truth (GT images and masks) agreeing with the training images."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.datasets.memorization import PromptSet
from bench.datasets.memorization_digits import (
    CLASS_WORDS,
    TEMPLATES,
    DigitsMemorizationPrompts,
    DigitsMemorizationTrain,
    build_digits_memorization,
)
from bench.registry import DATASETS

SMALL = {"num_global": 3, "num_local": 2, "copies": 5, "num_ordinary": 40}


def _uint8(image: torch.Tensor) -> np.ndarray:
    return np.rint((image[0].numpy() + 1.0) * 127.5).astype(np.uint8)


def test_counts_kinds_ids_and_value_range():
    train = DigitsMemorizationTrain(**SMALL)
    assert len(train) == 40 + 3 * 5 + 2 * 5
    assert train.describe()["counts"] == {"ordinary": 40, "global": 15, "local": 10}
    item = train[0]
    assert item["image"].shape == (1, 16, 16) and item["image"].dtype == torch.float32
    assert float(train.images.min()) == -1.0 and float(train.images.max()) == 1.0
    ids = [train.sample_id(i) for i in range(len(train))]
    assert len(set(ids)) == len(ids) and ids[40] == "global-0-0" and ids[-1] == "local-1-4"
    assert {train[i]["caption"] for i in range(40, 55)} == {"a zorblax image", "a quimble image", "a flonkish image"}
    default = DigitsMemorizationTrain()
    assert len(default) == (1797 - 8) + 8 * 32 + 8 * 32


def test_nearest_upsampling_of_the_digits():
    from sklearn.datasets import load_digits

    train = DigitsMemorizationTrain(**SMALL)
    source = int(train.sample_id(0).split("-")[1])
    expected = np.kron(load_digits().images[source], np.ones((2, 2))) / 8.0 - 1.0
    np.testing.assert_array_equal(train[0]["image"][0].numpy(), expected.astype(np.float32))
    word = train[0]["caption"].split()[-1]
    assert train[0]["caption"] in {t.format(word) for t in TEMPLATES}
    assert word == CLASS_WORDS[load_digits().target[source]]


def test_deterministic_per_seed_and_different_across_seeds():
    build_digits_memorization.cache_clear()
    first = DigitsMemorizationTrain(**SMALL, seed=3)
    build_digits_memorization.cache_clear()
    again = DigitsMemorizationTrain(**SMALL, seed=3)
    other = DigitsMemorizationTrain(**SMALL, seed=4)
    assert first.fingerprint() == again.fingerprint()
    assert torch.equal(first.images, again.images)
    assert first.fingerprint() != other.fingerprint()
    prompts = DigitsMemorizationPrompts(**SMALL, seed=3)
    assert prompts.fingerprint() == DigitsMemorizationPrompts(**SMALL, seed=3).fingerprint()
    assert prompts.fingerprint() != DigitsMemorizationPrompts(**SMALL, seed=4).fingerprint()


def test_global_duplicates_are_identical_and_local_copies_share_only_the_motif():
    train = DigitsMemorizationTrain(**SMALL)
    data = train.data
    for g, caption in enumerate(data.global_captions):
        positions = data.items_of[caption]
        assert len(positions) == 5 and all(train.sample_id(p).startswith(f"global-{g}-") for p in positions)
        assert all(torch.equal(train.images[p], train.images[positions[0]]) for p in positions)
        assert all(train.data.kinds[p] == "global" for p in positions)
    for j, caption in enumerate(data.local_captions):
        mask = data.mask(j).astype(bool)
        stack = train.images[data.items_of[caption], 0].numpy()
        assert mask.sum() == 36  # motif_size 6
        inside = stack[:, mask]
        assert (inside == inside[0]).all() and set(np.unique(inside)) == {-1.0, 1.0}
        row, column = data.local_corners[j]
        np.testing.assert_array_equal(stack[0, row:row + 6, column:column + 6], data.local_motifs[j])
        assert not (stack[:, ~mask] == stack[0, ~mask]).all()  # varied digits around the motif


def test_masks_match_the_pasted_region_exactly():
    from sklearn.datasets import load_digits

    train = DigitsMemorizationTrain(**SMALL)
    data = train.data
    pictures = np.kron(load_digits().images, np.ones((2, 2))) / 8.0 - 1.0
    for j, caption in enumerate(data.local_captions):
        for copy, position in enumerate(data.items_of[caption]):
            original = pictures[data.local_sources[j, copy]]
            image = train.images[position, 0].numpy()
            changed = image != original
            mask = data.mask(j).astype(bool)
            assert not changed[~mask].any()  # outside the mask: the digit, untouched
            np.testing.assert_array_equal(image[mask], data.local_motifs[j].reshape(-1))


def test_prompt_items_keys_counts_labels_and_ids():
    prompts = DigitsMemorizationPrompts()
    assert len(prompts) == 16 + 40
    item = prompts[0]
    assert set(item) == set(PromptSet.KEYS) | {"memorization", "gt_mask"}
    labels = [prompts[i]["label"] for i in range(len(prompts))]
    kinds = [prompts[i]["memorization"] for i in range(len(prompts))]
    assert labels == [1] * 16 + [0] * 40 and kinds == ["global"] * 8 + ["local"] * 8 + ["none"] * 40
    ids = [prompts.sample_id(i) for i in range(len(prompts))]
    assert len(set(ids)) == 56 and ids[0] == "digits_all-0" and ids[-1] == "digits_all-55"
    assert [prompts[i]["row"] for i in range(3)] == [0, 1, 2]
    assert prompts[55]["prompt"] == "a number nine" and prompts[16]["prompt"] == "a digit zero"
    assert all(prompts[i]["url"] == "" and prompts[i]["paraphrases"] == [] and prompts[i]["token_ids"] == []
               for i in range(len(prompts)))
    memorized = DigitsMemorizationPrompts(part="memorized")
    nonmemorized = DigitsMemorizationPrompts(part="nonmemorized")
    assert (len(memorized), len(nonmemorized), memorized.label, nonmemorized.label) == (16, 40, 1, 0)
    assert nonmemorized[0]["index"] == 16 and nonmemorized.sample_id(0) == "digits_nonmemorized-16"
    both = DATASETS.build({"type": "DetectionPrompts", "memorized": {"type": "DigitsMemorizationPrompts",
                                                                     "part": "memorized"},
                           "nonmemorized": {"type": "DigitsMemorizationPrompts", "part": "nonmemorized"}})
    assert len(both) == 56


def test_every_prompt_word_is_a_training_word():
    train = DigitsMemorizationTrain()
    prompts = DigitsMemorizationPrompts()
    words = {word for caption in train.captions for word in caption.split()}
    unseen = [prompts[i]["prompt"] for i in range(len(prompts)) if prompts[i]["prompt"] not in train.captions]
    assert len(unseen) == 10 and all(p.startswith("a number ") for p in unseen)
    assert all(set(prompts[i]["prompt"].split()) <= words for i in range(len(prompts)))


def test_gt_images_and_masks_agree_with_the_training_set():
    train = DigitsMemorizationTrain(**SMALL)
    prompts = DigitsMemorizationPrompts(**SMALL)
    for i in range(len(prompts)):
        item = prompts[i]
        assert item["gt_mask"].shape == (16, 16) and item["gt_mask"].dtype == np.uint8
        positions = train.data.items_of.get(item["prompt"], [])
        if item["memorization"] == "global":
            assert len(item["gt_images"]) == 1 and item["gt_mask"].all()
            gt = item["gt_images"][0]
            assert gt.shape == (16, 16, 3) and gt.dtype == np.uint8
            assert (gt == gt[:, :, :1]).all()
            np.testing.assert_array_equal(gt[:, :, 0], _uint8(train.images[positions[0]]))
        elif item["memorization"] == "local":
            j = train.data.local_captions.index(item["prompt"])
            np.testing.assert_array_equal(item["gt_mask"], train.data.mask(j))
            assert len(item["gt_images"]) == 5
            for gt, position in zip(item["gt_images"], positions, strict=True):
                np.testing.assert_array_equal(gt[:, :, 0], _uint8(train.images[position]))
        else:
            assert item["gt_images"] == [] and not item["gt_mask"].any()
    served = prompts[0]
    served["gt_mask"][:] = 0
    served["gt_images"][0][:] = 0
    assert prompts[0]["gt_mask"].all() and prompts[0]["gt_images"][0].any()  # items are copies


def test_subsets_keep_indices():
    part = DigitsMemorizationPrompts(part="nonmemorized", subset_size=8, subset_seed=1)
    again = DigitsMemorizationPrompts(part="nonmemorized", subset_size=8, subset_seed=1)
    assert len(part) == 8 and [part.sample_id(i) for i in range(8)] == [again.sample_id(i) for i in range(8)]
    assert all(16 <= part[i]["index"] < 56 and part[i]["label"] == 0 for i in range(8))
    assert part.describe()["subset"]["rows"] == part.rows


@pytest.mark.parametrize(("knobs", "message"), [
    ({"num_global": 25}, "num_global must be an integer in 0..24"),
    ({"num_global": 20, "num_local": 5}, "num_local must be an integer in 0..4"),
    ({"copies": 0}, "copies must be an integer in 1..1024"),
    ({"size": 12}, "size must be a multiple of 8"),
    ({"size": 4}, "size must be an integer in 8..64"),
    ({"motif_size": 17}, "motif_size must be an integer in 4..16"),
    ({"motif_size": 4, "num_local": 15}, "motif_size 4 has 14 distinct motifs, fewer than num_local=15"),
    ({"motif_size": 5}, "motif_size must be even"),
    ({"num_ordinary": 5000}, "num_ordinary must be an integer in 0..1789"),
    ({"seed": 1.5}, "seed must be an integer"),
])
def test_bad_knobs_name_the_key_and_range(knobs, message):
    with pytest.raises(ValueError, match=message):
        DigitsMemorizationTrain(**knobs)


def test_bad_part_names_the_choices():
    with pytest.raises(ValueError, match=r"part must be one of \('all', 'memorized', 'nonmemorized'\), got 'mem'"):
        DigitsMemorizationPrompts(part="mem")


def test_train_kinds_keep_only_those_items():
    from bench.datasets.memorization_digits import DigitsMemorizationTrain

    full = DigitsMemorizationTrain(size=8, motif_size=4, num_ordinary=20, copies=4, num_global=2, num_local=2)
    ordinary = DigitsMemorizationTrain(size=8, motif_size=4, num_ordinary=20, copies=4, num_global=2, num_local=2,
                                       kinds=("ordinary",))
    assert len(full) == 20 + 2 * 4 + 2 * 4 and len(ordinary) == 20
    assert all(ordinary.sample_id(i).startswith("ordinary-") for i in range(len(ordinary)))
    first = full.sample_id(0) if full.sample_id(0).startswith("ordinary-") else None
    assert first is None or torch.equal(ordinary[0]["image"], full[0]["image"])
    assert ordinary.fingerprint() != full.fingerprint()
    with pytest.raises(ValueError, match=r"kinds must be a non-empty subset"):
        DigitsMemorizationTrain(kinds=("verbatim",))


def test_digits_duplicated_sizes_copies_and_seed():
    from bench.datasets.digits import Digits
    from bench.datasets.memorization_digits import DigitsDuplicated

    data = DATASETS.build({"type": "DigitsDuplicated", "num_duplicated": 3, "copies": 5, "seed": 2,
                           "train_size": 50, "val_size": 10})
    base = Digits("train", train_size=50, val_size=10)
    assert isinstance(data, DigitsDuplicated) and len(data) == 50 + 3 * 4
    assert len(data.planted_indices) == 3 and list(data.planted_indices) == sorted(data.planted_indices)
    for i in range(50):  # the split first, unchanged
        assert torch.equal(data[i]["image"], base[i]["image"]) and data[i]["class_label"] == int(base[i]["target"])
    item = data[0]
    assert item["image"].shape == (1, 8, 8) and item["image"].dtype == torch.float32
    assert 0.0 <= float(data.images.min()) and float(data.images.max()) <= 1.0
    for planted in data.planted_indices.tolist():
        group = [i for i in range(len(data)) if data[i]["duplicate_of"] == planted]
        assert len(group) == 5 and group[0] == planted and all(i >= 50 for i in group[1:])
        assert all(torch.equal(data[i]["image"], data[planted]["image"]) for i in group)
        assert {data[i]["class_label"] for i in group} == {data[planted]["class_label"]}
        assert data.sample_id(group[2]) == f"{data.sample_id(planted)}-copy2"
    assert sum(data[i]["duplicate_of"] == -1 for i in range(len(data))) == 50 - 3
    ids = [data.sample_id(i) for i in range(len(data))]
    assert len(set(ids)) == len(ids)
    facts = data.describe()
    assert facts["planted_indices"] == data.planted_indices.tolist() and facts["num_samples"] == 62
    again = DigitsDuplicated(num_duplicated=3, copies=5, seed=2, train_size=50, val_size=10)
    other = DigitsDuplicated(num_duplicated=3, copies=5, seed=3, train_size=50, val_size=10)
    assert again.fingerprint() == data.fingerprint() and list(again.planted_indices) == list(data.planted_indices)
    assert list(other.planted_indices) != list(data.planted_indices) and other.fingerprint() != data.fingerprint()
    assert len(DigitsDuplicated(num_duplicated=0, train_size=50, val_size=10)) == 50
    with pytest.raises(ValueError, match=r"DigitsDuplicated: num_duplicated must be an integer in 0..50"):
        DigitsDuplicated(num_duplicated=51, train_size=50, val_size=10)
