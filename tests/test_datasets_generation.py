"""GenerationRequests: ids, reproducible labels, prompts, fingerprint."""
from __future__ import annotations

import pytest

from bench.data import DatasetLayoutError
from bench.datasets.generation import GenerationRequests
from bench.seeding import sample_seed


def test_unconditional_requests_have_stable_ids_and_no_label():
    requests = GenerationRequests(num_samples=3)
    assert [requests.sample_id(i) for i in range(3)] == ["000000", "000001", "000002"]
    assert [requests[i]["class_label"] for i in range(3)] == [-1, -1, -1]


def test_random_labels_follow_the_sample_seed_and_balanced_labels_cycle():
    random = GenerationRequests(num_samples=2000, num_classes=10, label_seed=7)
    labels = [random[i]["class_label"] for i in range(2000)]
    assert labels[5] == sample_seed(7, "000005") % 10
    counts = [labels.count(c) for c in range(10)]
    assert min(counts) > 150 and max(counts) < 250  # uniform-ish, not cyclic
    assert labels != [i % 10 for i in range(2000)]
    balanced = GenerationRequests(num_samples=25, num_classes=10, labels="balanced")
    assert [balanced[i]["class_label"] for i in range(12)] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_prompts_are_read_per_line_and_capacity_is_checked(tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red car\n\n  a cat  \n", encoding="utf-8")
    requests = GenerationRequests(num_samples=4, prompts_file=str(prompts), samples_per_prompt=2)
    assert [requests[i]["prompt"] for i in range(4)] == ["a red car", "a red car", "a cat", "a cat"]
    with pytest.raises(ValueError, match="2 prompts x 1 samples each = 2 < num_samples 4"):
        GenerationRequests(num_samples=4, prompts_file=str(prompts))
    with pytest.raises(FileNotFoundError, match="missing prompts file"):
        GenerationRequests(num_samples=1, prompts_file=str(tmp_path / "absent.txt"))
    prompts.write_bytes("a café\n".encode("latin-1"))  # not UTF-8
    with pytest.raises(DatasetLayoutError, match="cannot read a UTF-8 text file with one prompt per line "
                                                 r"\(UnicodeDecodeError"):
        GenerationRequests(num_samples=1, prompts_file=str(prompts))


def test_fingerprint_changes_with_the_conditions():
    base = GenerationRequests(num_samples=20, num_classes=10).fingerprint()
    assert GenerationRequests(num_samples=20, num_classes=10).fingerprint() == base
    assert GenerationRequests(num_samples=20, num_classes=10, label_seed=1).fingerprint() != base
    assert GenerationRequests(num_samples=20, num_classes=10, labels="balanced").fingerprint() != base
    assert GenerationRequests(num_samples=20).fingerprint() != base


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="num_samples must be positive"):
        GenerationRequests(num_samples=0)
    with pytest.raises(ValueError, match="labels must be one of"):
        GenerationRequests(num_samples=1, num_classes=3, labels="sorted")
