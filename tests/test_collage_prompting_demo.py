"""The digits demo: the collage reader's tiling and per-image correctness, the reader served behind the local
OpenAI-compatible endpoint (its answers through the real ``openai`` client equal its direct answers), the train
stage's checkpoint, and the summary's sentence in both outcomes."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.methods.collage_prompting import demo_reader as reader_lib
from bench.methods.collage_prompting.collage import collage_prompt, make_collage
from bench.methods.collage_prompting.demo import summarize
from bench.methods.collage_prompting.recognizers import OpenAIChatRecognizer
from bench.methods.collage_prompting.serve import LocalChatServer

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


class BrightnessReader(nn.Module):
    """Names each tile by its brightness (tile value v / 10 -> class v): a reader whose answers are known."""

    def forward(self, collage: torch.Tensor, grid: int) -> torch.Tensor:
        level = torch.nn.functional.adaptive_avg_pool2d(collage, grid).flatten(1) * 10
        return -(level[..., None] - torch.arange(10.0)).abs()


def test_grey_collages_place_image_arr_p_at_position_p():
    images = torch.arange(4.0)[:, None, None].expand(4, 8, 8)[None]      # image i is constant i
    collage = reader_lib.grey_collages(images, torch.tensor([[2, 0, 3, 1]]), 2)
    assert collage.shape == (1, 1, 16, 16)
    assert [collage[0, 0, r, c].item() for r, c in ((0, 0), (0, 8), (8, 0), (8, 8))] == [2, 0, 3, 1]


def test_tile_correctness_is_in_image_order():
    images = (torch.arange(9.0) / 10)[:, None, None].expand(9, 8, 8)
    targets = torch.arange(9)
    targets[4] = 0                                                        # the reader says 'four' for image 4
    groups = torch.arange(9)[None].repeat(3, 1)
    arrangements = torch.stack([torch.randperm(9, generator=torch.Generator().manual_seed(s)) for s in range(3)])
    correct = reader_lib.tile_correctness(BrightnessReader(), images, targets, groups, arrangements, 3)
    expected = torch.ones(3, 9)
    expected[:, 4] = 0
    assert torch.equal(correct, expected)


def test_the_reader_served_over_http_answers_as_it_does_directly(tmp_path):
    images = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    local = reader_lib.CollageReaderRecognizer()
    local.use_model(reader_lib.CollageReaderNet(10, 4))   # untrained: only the plumbing is under test
    collage = make_collage([images[i] for i in range(4)], [3, 1, 0, 2], 2, tile_size=32)
    prompt = collage_prompt(DIGITS, 2)
    direct = local.recognize(collage, prompt, 2, DIGITS)
    with LocalChatServer(local, DIGITS, model="collage-reader") as server:
        online = OpenAIChatRecognizer(model="collage-reader", base_url=server.url, cache_dir=tmp_path,
                                      pricing=dict(input_per_1k=0.0025))
        answer = online.recognize(collage, prompt, 2, DIGITS)
        assert answer.text == direct.text and answer.text.startswith("[0: '")
        assert answer.cost.prompt_tokens == direct.cost.prompt_tokens == 255 + 83   # 64 x 64 px: one 512 tile
        assert online.recognize(collage, prompt, 2, DIGITS).cached and server.requests == 1


def test_fit_demo_writes_one_checkpoint_with_reader_predictor_and_facts(tmp_path):
    pytest.importorskip("bench.methods.collage_prompting.predictor")
    from bench.datasets.digits import Digits
    from bench.methods.collage_prompting.demo_train import fit_demo, load_demo_checkpoint, load_predictor

    path = fit_demo(Digits("train", train_size=100), Digits("val", train_size=100, val_size=60), tmp_path, grid=2,
                    seed=0, reader_steps=4, reader_batch=8, reader_width=4, record_collages=12,
                    record_arrangements=3, predictor_epochs=1, predictor_hidden=8)
    entry = load_demo_checkpoint(path)
    assert set(entry) == {"reader", "predictor", "facts"} and entry["predictor"]["kwargs"] == {"in_dim": 4,
                                                                                                "hidden": 8}
    assert 0 <= entry["facts"]["record_accuracy"] <= entry["facts"]["record_best_arrangement_accuracy"] <= 1
    assert load_predictor(entry["predictor"]).target_std.item() == pytest.approx(entry["facts"]["predictor_target_std"])
    assert fit_demo(None, None, tmp_path, grid=2, seed=0) == path                       # resumes: nothing retrained


def runs(standard: float, random: float, brute: float, ga: float, rows: tuple = (0.8, 0.8)) -> dict:
    def run(accuracy: float, usd: float) -> dict:
        return {"metrics": {"accuracy": accuracy, "usd_per_image": usd, "record_top_row_accuracy": rows[0],
                            "record_bottom_row_accuracy": rows[1]}, "run_dir": "x"}

    return {"collage_prompting_standard": run(standard, 0.0009), "collage_prompting_random": run(random, 0.0001),
            "collage_prompting_brute_force": run(brute, 0.0001), "collage_prompting_ga": run(ga, 0.0001)}


def test_summary_says_whether_the_search_beat_random():
    won = summarize(runs(0.9, 0.70, 0.74, 0.78))
    assert "beat random ones by 8.0 points (GA 78.0%, brute force 74.0%)" in won.sentence
    assert "cost 9.0x less per digit" in won.sentence
    assert won.headline["cost ratio standard/collage"] == pytest.approx(9.0)
    assert "cost-efficiency score 7.80" in won.sentence
    assert "depends on the row" not in won.sentence
    lost = summarize(runs(0.9, 0.78, 0.77, 0.78, rows=(0.83, 0.75)))
    assert "did not beat random ones (GA 78.0%, brute force 77.0% vs 78.0%); the reader's accuracy depends on the " \
           "row (top 83.0%, bottom 75.0%), which the predictor's grid graph cannot see" in lost.sentence
    missing = summarize({"collage_prompting_standard": runs(0.9, 0.7, 0.7, 0.7)["collage_prompting_standard"]})
    assert "missing" in missing.sentence and math.isnan(missing.headline["GA collage accuracy"])
