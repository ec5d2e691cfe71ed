"""Collages: tiling and cutting round trips, prompts, and the indexed-answer parser on well-formed and malformed
answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.methods.collage_prompting.collage import (collage_prompt, cut_collage,
                                                     format_indexed_answer, make_collage, parse_indexed_answer,
                                                     parse_single_answer, standard_prompt, to_image_order)

CATEGORIES = ["vase", "pot pie", "cat", "dog", "hot dog", "tabby cat", "pot", "pie", "goldfish"]


def distinct_images(n: int, size: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize("grid", [2, 3])
def test_tiling_round_trip_under_an_arrangement(grid):
    n = grid * grid
    images = distinct_images(n)
    arrangement = torch.randperm(n, generator=torch.Generator().manual_seed(grid))
    collage = make_collage(images, arrangement, grid, tile_size=4)
    assert collage.shape == (grid * 4, grid * 4, 3) and collage.dtype == np.uint8
    tiles = cut_collage(collage, grid)
    for position, index in enumerate(arrangement.tolist()):
        np.testing.assert_array_equal(tiles[position], images[index])
    # position 0 is the top-left tile, position grid is the first of the second row
    np.testing.assert_array_equal(collage[:4, :4], images[int(arrangement[0])])
    np.testing.assert_array_equal(collage[4:8, :4], images[int(arrangement[grid])])
    assert to_image_order(list(arrangement.tolist()), arrangement) == list(range(n))


def test_tiles_are_resized_and_channels_first_floats_are_accepted():
    image = torch.zeros(1, 8, 8)
    image[0, :4] = 1.0  # top half white
    collage = make_collage([image] * 4, [0, 1, 2, 3], 2, tile_size=16)  # nearest: exact 2x upsampling
    assert collage.shape == (32, 32, 3)
    assert (collage[:8, :16] == 255).all() and (collage[8:16, :16] == 0).all()


def test_bad_grid_arrangement_and_image_count_are_named():
    images = distinct_images(4)
    with pytest.raises(ValueError, match="grid must be one of"):
        make_collage(images, [0, 1, 2, 3], 4, 4)
    with pytest.raises(ValueError, match="permutation of 0..3"):
        make_collage(images, [0, 0, 1, 2], 2, 4)
    with pytest.raises(ValueError, match="needs 9 images, got 4"):
        make_collage(images, list(range(9)), 3, 4)
    with pytest.raises(ValueError, match="divisible by 3"):
        cut_collage(np.zeros((10, 9, 3), np.uint8), 3)


def test_prompts_carry_the_paper_wording_and_the_categories():
    prompt = collage_prompt(["vase", "pot pie"], 2)
    assert prompt.startswith("Act as an image classifier by providing predictions for each 2x2 grid collage with "
                             "assigned categories from a given list ('vase', 'pot pie'), following left-to-right, "
                             "top-to-bottom order.")
    assert prompt.endswith("of 4 entries.")
    assert standard_prompt(["vase"]).startswith("Act as an image classifier by providing prediction for this image")
    with pytest.raises(ValueError, match="non-empty category list"):
        standard_prompt([])


@pytest.mark.parametrize("text", [
    "[0: 'vase', 1: 'pot pie', 2: 'cat', 3: 'dog']",
    '{"0": "vase", "1": "pot pie", "2": "cat", "3": "dog"}',
    "0. Vase\n1. Pot_Pie\n2. CAT\n3. dog.",
    "Sure! Here you go:\n```\n[0: \"vase\", 1: \"pot pie\", 2: \"cat\", 3: \"dog\"]\n```",
    "['vase', 'pot pie', 'cat', 'dog']",
    "3: dog; 1: pot pie; 0: vase; 2: cat",
])
def test_parser_reads_the_answer_formats(text):
    answer = parse_indexed_answer(text, 4, CATEGORIES)
    assert answer.labels == (0, 1, 2, 3) and answer.parsed == (True,) * 4 and answer.unparsed == 0


def test_parser_round_trips_the_local_format():
    names = ["goldfish", "hot dog", "tabby cat", "pot", "pie", "vase", "cat", "dog", "pot pie"]
    answer = parse_indexed_answer(format_indexed_answer(names), 9, CATEGORIES)
    assert [CATEGORIES[label] for label in answer.labels] == names


@pytest.mark.parametrize(("text", "labels"), [
    (None, (-1, -1, -1, -1)),
    ("", (-1, -1, -1, -1)),
    ("I cannot classify these images.", (-1, -1, -1, -1)),
    ("[0: 'vase', 1: 'spaceship', 7: 'cat', 2: 'cat']", (0, -1, 2, -1)),     # unknown name, index 7 ignored
    ("[0: 'vase', 0: 'dog', 1: 'cat'", (0, 2, -1, -1)),                      # repeated index keeps the first; no ]
    ("{\"0\": [\"vase\"], \"1\": null}", (-1, -1, -1, -1)),                   # JSON of the wrong shape
    ("[0: 'cat or dog', 1: 'hot dog', 2: 'a pot pie', 3: '\x00\uffff']", (-1, 4, 1, -1)),
    ("[" * 5000 + "0: 'vase'", (0, -1, -1, -1)),                               # deep nesting: no crash
])
def test_malformed_answers_never_raise_and_are_counted(text, labels):
    answer = parse_indexed_answer(text, 4, CATEGORIES)
    assert answer.labels == labels
    assert answer.unparsed == sum(label < 0 for label in labels)


def test_single_answers():
    assert parse_single_answer("Tabby cat.", CATEGORIES).labels == (5,)   # longest whole-word match wins over 'cat'
    assert parse_single_answer("This is a goldfish", CATEGORIES).labels == (8,)
    assert parse_single_answer("[0: 'dog']", CATEGORIES).labels == (3,)
    assert parse_single_answer("cat or dog", CATEGORIES).parsed == (False,)
    assert parse_single_answer(None, CATEGORIES).labels == (-1,)
