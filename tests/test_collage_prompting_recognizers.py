"""Recognizers: cache keys, the OpenAI-compatible path end to end through the real ``openai`` client against a local
endpoint (cache hit on rerun, usage-based cost, retries on 429), the API key kept out of every written file, and the
USD budget."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bench.methods.collage_prompting.collage import (collage_prompt, cut_collage, format_indexed_answer,
                                                     make_collage, parse_indexed_answer)
from bench.methods.collage_prompting.cost import estimate_text_tokens, image_tokens
from bench.methods.collage_prompting.recognizers import (BudgetReached, EndpointError, OpenAIChatRecognizer,
                                                         Recognition, Recognizer, ResponseCache, UsdBudget,
                                                         build_recognizer, cache_key)
from bench.methods.collage_prompting.serve import LocalChatServer

CATEGORIES = ["dark", "dim", "bright", "white"]
SECRET = "sk-test-SECRET-never-written-0123456789"


class BrightnessRecognizer(Recognizer):
    """A deterministic stand-in model: names each tile by its mean brightness (quarter of the 0..255 range)."""

    backend = "brightness"

    def recognize(self, image: np.ndarray, prompt: str, grid: int | None, categories: Sequence[str],
                  budget: UsdBudget | None = None) -> Recognition:
        tiles = cut_collage(image, grid) if grid else [image]
        names = [categories[min(int(tile.mean() // 64), 3)] for tile in tiles]
        text = format_indexed_answer(names) if grid else names[0]
        return Recognition(text, self._priced(image, prompt, text))


def quarter_collage() -> tuple[np.ndarray, list[int]]:
    levels = [10, 150, 100, 250]   # dark, bright, dim, white
    images = [np.full((8, 8, 3), level, np.uint8) for level in levels]
    return make_collage(images, [0, 1, 2, 3], 2, 16), [0, 2, 1, 3]


def written_text(*folders: Path) -> str:
    return "".join(path.read_bytes().decode("latin-1") for folder in folders for path in folder.rglob("*")
                   if path.is_file())


def test_cache_key_is_stable_and_each_field_counts():
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    params = {"detail": "high", "max_tokens": 300, "temperature": 0.0}
    key = cache_key("gpt-4o", "prompt", image, params)
    assert key == cache_key("gpt-4o", "prompt", image.copy(), dict(reversed(params.items())))
    assert key == "c147ee818df2ecbcbe1243e3948ac9b96eea63c1cc32eb50f39c5a763b748948"
    other = image.copy()
    other[0, 0, 0] += 1
    variants = [cache_key("gpt-4o-mini", "prompt", image, params), cache_key("gpt-4o", "prompt ", image, params),
                cache_key("gpt-4o", "prompt", other, params),
                cache_key("gpt-4o", "prompt", image.reshape(2, 8, 3), params),      # same bytes, other shape
                cache_key("gpt-4o", "prompt", image, {**params, "detail": "low"}),
                cache_key("gpt-4", "oprompt", image, params)]                         # no concatenation ambiguity
    assert len({key, *variants}) == 1 + len(variants)


def test_online_path_end_to_end_with_cache_hit_and_logged_cost(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAGE_TEST_KEY", SECRET)
    collage, expected = quarter_collage()
    prompt = collage_prompt(CATEGORIES, 2)
    with LocalChatServer(BrightnessRecognizer(), CATEGORIES, model="stand-in") as server:
        spec = dict(type="openai", model="stand-in", base_url=server.url, api_key_env="COLLAGE_TEST_KEY",
                    cache_dir=str(tmp_path / "cache"), pricing=dict(input_per_1k=0.01, output_per_1k=0.03))
        first = build_recognizer(spec).recognize(collage, prompt, 2, CATEGORIES)
        assert server.requests == 1 and not first.cached
        assert server.headers[0]["authorization"] == f"Bearer {SECRET}"      # the key is sent ...
        content = server.bodies[0]["messages"][0]["content"]
        assert content[0] == {"type": "text", "text": prompt}
        assert content[1]["image_url"]["detail"] == "high"
        assert parse_indexed_answer(first.text, 4, CATEGORIES).labels == tuple(expected)
        prompt_tokens = image_tokens(32, 32) + estimate_text_tokens(prompt)      # what the server reports
        assert first.cost.usage_reported and first.cost.prompt_tokens == prompt_tokens == 255 + 72
        assert first.cost.usd == pytest.approx(prompt_tokens * 1e-5 + first.cost.completion_tokens * 3e-5)
        again = build_recognizer(spec).recognize(collage, prompt, 2, CATEGORIES)   # a fresh process's object
        assert server.requests == 1 and again.cached                           # cache hit: no second request
        assert (again.text, again.cost) == (first.text, first.cost)
    assert SECRET not in written_text(tmp_path / "cache")                      # ... and never written
    assert len(list((tmp_path / "cache").rglob("*.json"))) == 1


def test_rate_limits_are_retried_with_backoff(tmp_path):
    collage, _ = quarter_collage()
    with LocalChatServer(BrightnessRecognizer(), CATEGORIES, fail_first=2) as server:
        recognizer = OpenAIChatRecognizer(model="m", base_url=server.url, cache_dir=tmp_path, backoff_s=0.5)
        waits: list[float] = []
        recognizer.sleep = waits.append
        result = recognizer.recognize(collage, collage_prompt(CATEGORIES, 2), 2, CATEGORIES)
        assert server.requests == 3 and waits == [0.0, 0.0]   # the server's Retry-After: 0
        assert not result.cached
    with LocalChatServer(BrightnessRecognizer(), CATEGORIES, fail_first=10) as server:
        recognizer = OpenAIChatRecognizer(model="m", base_url=server.url, cache_dir=tmp_path / "b", max_retries=1)
        recognizer.sleep = waits.append
        with pytest.raises(EndpointError, match=r"still failing after 2 tries \(RateLimitError"):
            recognizer.recognize(collage, "another prompt", 2, CATEGORIES)
        assert server.requests == 2 and not list((tmp_path / "b").rglob("*.json"))


def test_refusals_and_a_missing_key_are_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    collage, _ = quarter_collage()
    with pytest.raises(EndpointError, match=r"read from \$OPENAI_API_KEY, which is not set"):
        OpenAIChatRecognizer(model="gpt-4o", cache_dir=tmp_path).recognize(collage, "p", 2, CATEGORIES)
    with LocalChatServer(BrightnessRecognizer(), CATEGORIES) as server:
        recognizer = OpenAIChatRecognizer(model="m", base_url=server.url + "/nowhere", cache_dir=tmp_path)
        with pytest.raises(EndpointError, match="refused the request"):
            recognizer.recognize(collage, "p", 2, CATEGORIES)
    with pytest.raises(ValueError, match="recognizer.type must be one of .* Did you mean 'openai'"):
        build_recognizer({"type": "opneai"})


def test_budget_refuses_the_call_that_would_pass_max_usd():
    budget = UsdBudget(0.010)
    budget.ensure_room(0.004)
    budget.charge(0.004)
    budget.charge(0.004)
    with pytest.raises(BudgetReached, match=r"max_usd=0.01 reached: 2 new calls cost \$0.0080 .* rerun with --resume"):
        budget.ensure_room(0.0030)
    UsdBudget(None).ensure_room(1e9)
    with pytest.raises(ValueError, match="max_usd must be a non-negative number"):
        UsdBudget(-1)


def test_an_unreadable_cache_entry_is_a_miss(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put("ab" * 32, {"text": "x"})
    assert cache.get("ab" * 32) == {"text": "x", "key": "ab" * 32}
    cache.path("ab" * 32).write_text("{not json")
    assert cache.get("ab" * 32) is None


def test_local_classifier_names_each_tile_with_a_registered_classifier():
    import torch

    spec = dict(type="TimmClassifier", model_name="test_resnet", num_classes=4, input_size=16)
    recognizer = build_recognizer(dict(type="local_classifier", classifier=spec))
    torch.manual_seed(0)
    recognizer.setup(torch.device("cpu"))
    collage, _ = quarter_collage()
    answer = recognizer.recognize(collage, collage_prompt(CATEGORIES, 2), 2, CATEGORIES)
    tiles = torch.from_numpy(np.stack(cut_collage(collage, 2))).permute(0, 3, 1, 2).float() / 255
    with torch.inference_mode():
        expected = recognizer.classifier.predict({"image": tiles, "target": torch.zeros(4)}, None)["logits"]
    assert parse_indexed_answer(answer.text, 4, CATEGORIES).labels == tuple(expected.argmax(-1).tolist())
    assert answer.cost.usd == 0 and answer.cost.image_tokens == 255 and not answer.cached
    single = recognizer.recognize(collage[:16, :16], "p", None, CATEGORIES)
    assert single.text in CATEGORIES                                   # a bare name for a standard call
    with pytest.raises(ValueError, match="gives 4 classes but the collage has 3 categories"):
        recognizer.recognize(collage, "p", 2, CATEGORIES[:3])
