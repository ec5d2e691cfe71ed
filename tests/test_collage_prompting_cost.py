"""Token and dollar arithmetic against OpenAI's published vision-pricing examples, and the cost-efficiency score."""
from __future__ import annotations

import math

import pytest

from bench.methods.collage_prompting.cost import Pricing, call_cost, cost_efficiency, image_tokens, scaled_size


@pytest.mark.parametrize(("size", "detail", "scaled", "tokens"), [
    ((1024, 1024), "high", (768, 768), 765),      # published: 4 tiles -> 85 + 4 * 170
    ((2048, 4096), "high", (768, 1536), 1105),    # published: 1024x2048 -> 768x1536, 6 tiles
    ((4096, 8192), "low", None, 85),              # published: low detail is flat
    ((512, 512), "high", (512, 512), 255),        # one tile; small images are not upscaled
    ((513, 512), "high", (513, 512), 425),        # one pixel over: two tiles
    ((384, 384), "high", (384, 384), 255),        # the demo's 3x3 collage of 128-px tiles
])
def test_image_tokens_published_examples(size, detail, scaled, tokens):
    assert image_tokens(*size, detail) == tokens
    if scaled is not None:
        assert scaled_size(*size) == scaled


def test_collage_saves_image_tokens_by_about_g_squared():
    single = image_tokens(512, 512)
    assert single == 255
    assert image_tokens(1024, 1024) / 4 == pytest.approx(191.25)   # 2x2 of 512-px tiles: 765 / 4 per image
    assert image_tokens(1536, 1536) / 9 == 85                      # 3x3: scaled to 768x768, 765 / 9 per image


def test_call_cost_uses_usage_when_reported_else_estimates():
    pricing = Pricing(input_per_1k=0.01, output_per_1k=0.03)
    reported = call_cost((1024, 1024), "high", "p" * 400, "a" * 40, pricing,
                         {"prompt_tokens": 900, "completion_tokens": 20})
    assert (reported.image_tokens, reported.prompt_tokens, reported.completion_tokens) == (765, 900, 20)
    assert reported.usd == pytest.approx(0.009 + 0.0006) and reported.usage_reported
    estimated = call_cost((1024, 1024), "high", "p" * 400, "a" * 40, pricing, None)
    assert (estimated.prompt_tokens, estimated.completion_tokens) == (765 + 100, 10)
    assert estimated.usd == pytest.approx(0.865 * 0.01 + 0.01 * 0.03) and not estimated.usage_reported


def test_pricing_and_detail_are_checked():
    with pytest.raises(ValueError, match="pricing.input_per_1k must be a non-negative number"):
        Pricing(input_per_1k=-1)
    with pytest.raises(ValueError, match="unknown \\['input'\\]"):
        Pricing.from_config({"input": 1.0})
    with pytest.raises(ValueError, match="detail must be one of"):
        image_tokens(10, 10, "auto")


def test_cost_efficiency_is_accuracy_per_dollar_relative_to_standard():
    # collage: 80% at $0.001 per image; standard: 90% at $0.004 -> (0.8 / 0.001) / (0.9 / 0.004) = 3.555...
    assert cost_efficiency(0.8, 0.001, 0.9, 0.004) == pytest.approx(800 / 225)
    assert cost_efficiency(0.9, 0.004, 0.9, 0.004) == pytest.approx(1.0)
    assert math.isnan(cost_efficiency(0.8, 0.0, 0.9, 0.004))
