"""The collage_recognition task and the CollagePrompting adapter: a real run through a local OpenAI-compatible
endpoint (max_usd stops it losing no finished answer, --resume completes it, a rerun costs nothing, the API key is
in no written file), standard vs collage calls, searched arrangements with a stand-in scorer, and the metrics."""
from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import torch

from bench.config import load_config
from bench.methods.collage_prompting.adapter import CollagePrompting
from bench.methods.collage_prompting.collage import collage_prompt
from bench.methods.collage_prompting.cost import estimate_text_tokens, image_tokens
from bench.methods.collage_prompting.recognizers import BudgetReached, UsdBudget
from bench.methods.collage_prompting.serve import LocalChatServer
from bench.methods.collage_prompting.task import CollageRecognition, CostEfficiency
from bench.runner import evaluate
from bench.store import SampleStore
from test_collage_prompting_recognizers import SECRET, BrightnessRecognizer, written_text

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def write_config(tmp_path: Path, url: str, max_usd: float | None, mode: str = "collage") -> Path:
    path = tmp_path / f"collage_{mode}.py"
    path.write_text(f"""
dataset = dict(type="CollageGroups", grid=2, seed=0, num_groups=6, source=dict(type="Digits", split="test"))
method = dict(type="CollagePrompting", grid=2, mode={mode!r}, arrangement="identity", tile_size=16,
              categories={DIGITS!r},
              recognizer=dict(type="openai", model="stand-in", base_url={url!r}, api_key_env="COLLAGE_TEST_KEY",
                              cache_dir={str(tmp_path / "cache")!r}, pricing=dict(input_per_1k=0.01)))
task = dict(type="collage_recognition", max_usd={max_usd!r})
run = dict(device="cpu", batch_size=2)
""")
    return path


def stored(run_dir: Path) -> dict:
    results = json.loads((run_dir / "results.json").read_text()) if (run_dir / "results.json").is_file() else None
    chash = results["config_sha256"] if results else None
    return {"results": results, "store": SampleStore(run_dir, chash) if chash else None}


def test_max_usd_stops_cleanly_and_resume_completes_without_paying_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAGE_TEST_KEY", SECRET)
    per_call = (image_tokens(32, 32) + estimate_text_tokens(collage_prompt(DIGITS, 2))) * 0.01 / 1000
    with LocalChatServer(BrightnessRecognizer(), DIGITS, model="stand-in") as server:
        path = write_config(tmp_path, server.url, max_usd=3.5 * per_call)
        run_dir = tmp_path / "run"
        with pytest.raises(BudgetReached, match=r"max_usd=.* reached: 3 new calls"):
            evaluate(load_config(path, {"run.work_dir": str(run_dir)}), wandb_mode="disabled", progress=False)
        assert server.requests == 3   # the 4th call was never made
        cfg = load_config(path, {"run.work_dir": str(run_dir)})
        from bench.config import config_hash

        store = SampleStore(run_dir, config_hash(cfg))
        assert len(store.finished_ids()) == 2          # the first batch is stored ...
        assert len(list((tmp_path / "cache").rglob("*.json"))) == 3   # ... and the third answer is cached

        # a fresh session may spend max_usd again: 3 new calls (groups 4-6), group 3 from the cache
        evaluate(cfg, resume=True, wandb_mode="disabled", progress=False)
        assert server.requests == 6
        results = json.loads((run_dir / "results.json").read_text())
        rows = SampleStore(run_dir, results["config_sha256"]).load()
        assert len(rows["sample_id"]) == 6 and rows["calls"].tolist() == [1] * 6
        assert rows["cached_calls"].tolist() == [0, 0, 1, 0, 0, 0]
        metrics = results["metrics"]
        assert metrics["calls_per_image"] == 0.25 and metrics["usage_reported_fraction"] == 1.0
        assert metrics["usd_per_image"] == pytest.approx(float(rows["usd"].sum()) / 24)
        assert metrics["accuracy"] == pytest.approx(float(rows["correct"].mean()))
        assert rows["prediction"].shape == (6, 4) and rows["parsed"].all()
        assert [len(ids.split("|")) for ids in rows["tile_ids"]] == [4] * 6 and rows["answer"][0].startswith("[0: ")
        spent = results["evaluation"]                          # this session's money, logged in results.json
        assert spent["new_calls_this_session"] == 3 and spent["max_usd"] == pytest.approx(3.5 * per_call)
        assert spent["usd_spent_this_session"] == pytest.approx(float(rows["usd"][3:].sum()), abs=1e-6)

        # the same config in a new folder: every answer from the cache, no request, the same cost logged
        again = evaluate(load_config(path, {"run.work_dir": str(tmp_path / "again")}), wandb_mode="disabled",
                         progress=False)
        assert server.requests == 6
        repeat = json.loads((again / "results.json").read_text())["metrics"]
        assert repeat["usd_per_image"] == metrics["usd_per_image"] and repeat["accuracy"] == metrics["accuracy"]
        assert json.loads((again / "results.json").read_text())["evaluation"]["usd_spent_this_session"] == 0
    assert SECRET not in written_text(run_dir, tmp_path / "again", tmp_path / "cache")
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert "COLLAGE_TEST_KEY" in json.dumps(provenance) and SECRET not in json.dumps(provenance)


def test_standard_mode_makes_one_call_per_image(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAGE_TEST_KEY", SECRET)
    with LocalChatServer(BrightnessRecognizer(), DIGITS, model="stand-in") as server:
        path = write_config(tmp_path, server.url, max_usd=None, mode="standard")
        cfg = load_config(path, {"run.work_dir": str(tmp_path / "std"), "dataset.num_groups": 2})
        run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
        assert server.requests == 8
        assert all("grid collage" not in body["messages"][0]["content"][0]["text"] for body in server.bodies)
    metrics = json.loads((run_dir / "results.json").read_text())["metrics"]
    assert metrics["calls_per_image"] == 1.0 and metrics["image_tokens_per_image"] == 255  # one 16-px tile each


def stand_in_search(monkeypatch) -> None:
    """The predictor and search modules of the interface, replaced by a scorer that prefers image 0 at position 3
    (score = position of image 0), so the chosen arrangement is known."""
    search = types.ModuleType("bench.methods.collage_prompting.search")

    def brute_force_search(score_fn, grid, num=25, seed=0):
        generator = torch.Generator().manual_seed(seed)
        candidates = torch.stack([torch.randperm(grid * grid, generator=generator) for _ in range(num)])
        return candidates[int(torch.argmax(score_fn(candidates)))]

    search.brute_force_search = brute_force_search
    search.ga_search = lambda score_fn, grid, preset, seed: brute_force_search(score_fn, grid, 50, seed)
    search.random_arrangement = lambda grid, seed: torch.randperm(grid * grid,
                                                                  generator=torch.Generator().manual_seed(seed))
    predictor = types.ModuleType("bench.methods.collage_prompting.predictor")
    predictor.score_arrangements = lambda model, features, arrangements, grid: (
        (arrangements == 0).float().argmax(1).float())
    monkeypatch.setitem(sys.modules, search.__name__, search)
    monkeypatch.setitem(sys.modules, predictor.__name__, predictor)


@pytest.mark.parametrize("arrangement", ["brute_force", "ga"])
def test_searched_arrangements_follow_the_scorer(monkeypatch, arrangement):
    stand_in_search(monkeypatch)
    method = CollagePrompting(recognizer=dict(type="collage_reader"), categories=DIGITS, grid=2,
                              arrangement=arrangement, tile_size=8)
    from bench.methods.collage_prompting.demo_reader import CollageReaderNet

    torch.manual_seed(0)
    method.recognizer.use_model(CollageReaderNet(10, 4))
    method.predictor = object()   # what setup loads; the stand-in scorer ignores it
    batch = {"images": torch.rand(3, 4, 1, 8, 8), "targets": torch.zeros(3, 4, dtype=torch.long)}
    out = method.recognize_batch(batch, torch.tensor([1, 2, 3]), UsdBudget(None))
    assert (out["arrangement"][:, 3] == 0).all()          # image 0 placed last: the scorer's best
    assert out["predicted_accuracy"].tolist() == [3.0, 3.0, 3.0]
    assert out["calls"].tolist() == [1, 1, 1] and out["usd"].tolist() == [0.0, 0.0, 0.0]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="method.mode must be one of"):
        CollagePrompting(recognizer=dict(type="collage_reader"), categories=DIGITS, mode="batch")
    with pytest.raises(ValueError, match="method.search has unknown keys \\['population'\\]"):
        CollagePrompting(recognizer=dict(type="collage_reader"), categories=DIGITS, search=dict(population=3))
    with pytest.raises(FileNotFoundError, match="method.categories: nowhere.txt does not exist"):
        CollagePrompting(recognizer=dict(type="collage_reader"), categories="nowhere.txt")
    method = CollagePrompting(recognizer=dict(type="collage_reader"), categories=DIGITS, arrangement="ga")
    with pytest.raises(ValueError, match="collage_reader needs a checkpoint"):
        method.setup(torch.device("cpu"))
    from bench.methods.collage_prompting.demo_reader import CollageReaderNet

    method.recognizer.use_model(CollageReaderNet(10, 4))
    with pytest.raises(ValueError, match="arrangement='ga' needs a predictor: a train stage"):
        method.setup(torch.device("cpu"))


def test_metrics_on_hand_built_columns():
    columns = {"correct": torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]),
               "parsed": torch.tensor([[True, False, True, True], [True, True, True, True]]),
               "calls": torch.tensor([1, 1]), "usd": torch.tensor([0.004, 0.002], dtype=torch.float64),
               "image_tokens": torch.tensor([255, 255]), "prompt_tokens": torch.tensor([300, 310]),
               "completion_tokens": torch.tensor([20, 30]), "usage_reported": torch.tensor([1, 0])}
    values = CollageRecognition().compute(columns)
    assert values["accuracy"] == 0.625 and values["unparsed_fraction"] == 0.125
    assert values["usd_per_image"] == pytest.approx(0.00075) and values["tokens_per_image"] == 82.5
    assert values["image_tokens_per_image"] == 63.75 and values["calls_per_image"] == 0.25
    assert values["usage_reported_fraction"] == 0.5 and values["accuracy_per_usd"] == pytest.approx(0.625 / 0.00075)
    efficiency = CostEfficiency(standard_accuracy=0.9, standard_usd_per_image=0.003).compute(columns)
    assert efficiency["cost_efficiency"] == pytest.approx((0.625 / 0.00075) / (0.9 / 0.003))
    with pytest.raises(ValueError, match="standard_accuracy in \\(0, 1\\]"):
        CostEfficiency(standard_accuracy=90, standard_usd_per_image=0.003)
