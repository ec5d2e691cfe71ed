"""GenerationRequests: ids, reproducible labels, prompts, fingerprint; GeneratedImages: a finished generation run's
images read back as attribution queries."""
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


def test_prompts_can_be_given_in_the_config():
    """D-TRAK's ArtBench-2 gen queries: 2 prompts in blocks of samples_per_prompt, as its index blocks."""
    requests = GenerationRequests(num_samples=5, prompts=["a ukiyo e painting", " a baroque painting "],
                                  samples_per_prompt=3)
    assert [requests[i]["prompt"] for i in range(5)] == ["a ukiyo e painting"] * 3 + ["a baroque painting"] * 2
    assert requests.describe()["prompts"] == ["a ukiyo e painting", "a baroque painting"]
    assert requests.fingerprint() != GenerationRequests(num_samples=5, prompts=["a ukiyo e painting", "a cat"],
                                                        samples_per_prompt=3).fingerprint()
    with pytest.raises(ValueError, match=r"prompts has 2 prompts x 2 samples each = 4 < num_samples 5"):
        GenerationRequests(num_samples=5, prompts=["a", "b"], samples_per_prompt=2)
    with pytest.raises(ValueError, match="prompts must be a non-empty list of non-empty strings, got 'a cat'"):
        GenerationRequests(num_samples=1, prompts="a cat")
    with pytest.raises(ValueError, match="prompts must be a non-empty list of non-empty strings"):
        GenerationRequests(num_samples=1, prompts=["a cat", ""])
    with pytest.raises(ValueError, match="give prompts_file or prompts, not both"):
        GenerationRequests(num_samples=1, prompts=["a cat"], prompts_file="prompts.txt")


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


def test_generated_images_read_a_finished_run_in_order_with_gen_ids(generated_images_run):
    import json

    import numpy as np
    import torch
    from PIL import Image

    from bench.datasets.generation import GeneratedImages
    from bench.store import SampleStore

    run_dir = generated_images_run(5, batch_size=2)
    images = GeneratedImages(str(run_dir))
    assert len(images) == 5 and [images.sample_id(i) for i in range(5)] == [f"gen-{i}" for i in range(5)]
    results = json.loads((run_dir / "results.json").read_text())
    stored = SampleStore(run_dir, results["config_sha256"]).load(["image"])["image"]  # uint8 [5, 8, 8, 1]
    item = images[3]["image"]
    assert item.shape == (1, 8, 8) and item.dtype == torch.float32 and 0 <= item.min() and item.max() <= 1
    assert torch.equal((item * 255).round().to(torch.uint8)[0], stored[3, ..., 0])
    png = np.asarray(Image.open(run_dir / "images" / "00000" / "000003.png"))
    assert np.array_equal(png, stored[3, ..., 0].numpy())  # the exported PNG holds the same pixels
    facts = images.describe()
    assert facts["num_samples"] == 5 and facts["image_shape"] == [8, 8, 1]
    assert facts["sampler"]["noise_seeds"] == "index_seeds + dataset index (0 + i)"
    assert facts["sampler"]["num_inference_steps"] == 3 and facts["sampler"]["scheduler"]["class"] == "DDIMScheduler"
    assert images.fingerprint() == GeneratedImages(str(run_dir)).fingerprint()


def test_generated_image_i_is_seeded_index_seeds_plus_i_whatever_the_batching(generated_images_run):
    """D-TRAK's gen_unconditional.py seeds image i with gen_seed·1000 + i: the same image for any batch size, and
    shifting index_seeds by one shifts the images by one position."""
    import torch

    from bench.datasets.generation import GeneratedImages

    whole = GeneratedImages(str(generated_images_run(5, batch_size=5)))
    pairs = GeneratedImages(str(generated_images_run(5, batch_size=2)))
    shifted = GeneratedImages(str(generated_images_run(4, batch_size=3, index_seeds=1)))
    assert torch.equal(whole.images, pairs.images) and whole.fingerprint() == pairs.fingerprint()
    assert torch.equal(shifted.images, whole.images[1:])  # image j of seed base 1 is image j + 1 of base 0
    assert not torch.equal(whole.images[0], whole.images[1])


def test_generated_images_refuse_a_missing_or_partial_run(generated_images_run, tmp_path):
    from bench.datasets.generation import GeneratedImages

    with pytest.raises(DatasetLayoutError, match=r"GeneratedImages: no finished generation run"):
        GeneratedImages(str(tmp_path))
    with pytest.raises(DatasetLayoutError, match=r"the generation run is 'partial' \(run with --limit\)"):
        GeneratedImages(str(generated_images_run(5, batch_size=2, limit=2)))
