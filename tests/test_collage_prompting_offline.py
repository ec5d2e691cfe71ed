"""The offline CollagePrompt benchmark on a copy of the official layout (``CollagePrompt.write_example`` with several
recorded arrangements per collage): the held-out split by collage, fit + predict end to end through a shipped
config, the recorded-accuracy metrics against a direct computation from the pickle, the GA deterministic by seed
through the adapter, the official weights as the train stage's artefact."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.config import configs_root, load_config
from bench.datasets.collage_prompt import CollagePrompt, CollagePromptHeldOut, collage_key, feature_name
from bench.methods.collage_prompting.arrangement_task import CollageArrangement
from bench.methods.collage_prompting.offline import CollageArrangementSearch, recorded_accuracies
from bench.methods.collage_prompting.predictor import CollageAccuracyPredictor, score_arrangements
from bench.runner import evaluate
from bench.store import SampleStore
from test_collage_prompting_predictor import official_layout_state, write_legacy

COUNTS = (3, 1, 2, 4, 1, 3, 2, 1, 3, 2, 1, 2)  # records per collage: 8 collages recorded at least twice


def fixture(tmp_path: Path, grid: int = 3) -> Path:
    return CollagePrompt.write_example(tmp_path / "dataset", grid=grid, num_collages=len(COUNTS), dim=8,
                                       arrangements_per_collage=COUNTS, val_datasets=("dtd",))


def read_meta(root: Path, grid: int = 3) -> dict:
    with open(root / f"train/metainfo/imagenet_train_{grid}x{grid}_collage_pred_info.pkl", "rb") as handle:
        return pickle.load(handle)  # our own fixture: plain pickle is fine here


def test_heldout_split_is_by_collage_seeded_and_disjoint_from_training(tmp_path):
    root = fixture(tmp_path)
    meta = read_meta(root)
    heldout = CollagePromptHeldOut(str(root), grid=3, heldout_fraction=0.5, heldout_seed=0)
    train = CollagePrompt(str(root), grid=3, split="train", heldout_fraction=0.5, heldout_seed=0)
    assert len(heldout) == 4                                    # round(0.5 * 8 collages recorded twice or more)
    held_keys = {heldout[i]["collage_key"] for i in range(len(heldout))}
    assert held_keys.isdisjoint(train.collage_keys()) and len(train.collage_keys()) == len(COUNTS) - 4
    by_collage: dict[str, list[str]] = {}
    for key, entry in meta.items():
        by_collage.setdefault(collage_key(entry["ori"]), []).append(key)
    assert len(train) + sum(len(by_collage[k]) for k in held_keys) == len(meta)   # every record, once
    for i in range(len(heldout)):
        item, records = heldout[i], by_collage[heldout[i]["collage_key"]]
        assert heldout.sample_id(i) == records[0] and len(records) >= 2
        assert item["arrangements"].shape == (len(records), 9) and item["features"].shape == (9, 8)
        for arrangement, record in zip(item["arrangements"], records, strict=True):   # the same image at every position
            entry = meta[record]
            assert [item["images"][int(a)] for a in arrangement] == [entry["ori"][int(k)] for k in entry["ord"]]
        assert item["correctness"].tolist() == [[float(v) for v in meta[r]["pred"]] for r in records]
    again = CollagePromptHeldOut(str(root), grid=3, heldout_fraction=0.5, heldout_seed=0)
    other = CollagePromptHeldOut(str(root), grid=3, heldout_fraction=0.5, heldout_seed=1)
    assert again.keys == heldout.keys and other.keys != heldout.keys
    with pytest.raises(ValueError, match="heldout_fraction must be in"):
        CollagePrompt(str(root), grid=3, split="train", heldout_fraction=1.0)


def test_recorded_accuracies_break_ties_uniformly_and_pick_randomly_by_seed():
    scores, accuracy = torch.tensor([1.0, 3.0, 3.0, 2.0]), torch.tensor([0.1, 0.5, 0.7, 0.9])
    values = recorded_accuracies(scores, accuracy, seed=5, pick="predictor")
    assert values["recorded_chosen"] == pytest.approx(0.6)    # the two top-scored records share the pick
    assert values["recorded_best"] == pytest.approx(0.9) and values["recorded_mean"] == pytest.approx(0.55)
    index = int(torch.randint(4, (1,), generator=torch.Generator().manual_seed(5)))
    assert values["recorded_random"] == pytest.approx(float(accuracy[index]))
    assert recorded_accuracies(scores, accuracy, 5, "random")["recorded_chosen"] == values["recorded_random"]


def test_metric_on_hand_built_columns():
    nan = float("nan")
    outputs = {"predicted_accuracy": torch.tensor([0.5, 0.7, 0.6]), "predicted_random": torch.tensor([0.4, 0.6, 0.5]),
               "num_recorded": torch.tensor([1, 2, 3]), "recorded_chosen": torch.tensor([nan, 0.5, 1.0]),
               "recorded_random": torch.tensor([nan, 0.25, 0.5]), "recorded_best": torch.tensor([nan, 0.75, 1.0]),
               "recorded_mean": torch.tensor([nan, 0.5, 0.5])}
    values = CollageArrangement().compute(outputs)
    assert values == pytest.approx({"predicted_accuracy": 0.6, "predicted_accuracy_random": 0.5,
                                    "collages_with_recorded": 2.0, "recorded_accuracy_chosen": 0.75,
                                    "recorded_accuracy_random": 0.375, "recorded_accuracy_best": 0.875,
                                    "recorded_accuracy_mean": 0.5})
    val = CollageArrangement().compute({**outputs, "num_recorded": torch.zeros(3, dtype=torch.long)})
    assert val["collages_with_recorded"] == 0 and "recorded_accuracy_chosen" not in val


def options(root: Path, work_dir: Path) -> dict:
    return {"dataset.root": str(root), "train.dataset.root": str(root), "dataset.heldout_fraction": 0.5,
            "train.dataset.heldout_fraction": 0.5, "train.epochs": 3, "train.hidden": 8, "train.batch_size": 8,
            "run.device": "cpu", "run.batch_size": 3, "run.work_dir": str(work_dir)}


def test_fit_and_predict_end_to_end_with_recorded_metrics_against_the_pickle(tmp_path):
    root = fixture(tmp_path)
    meta = read_meta(root)
    cfg = load_config(configs_root() / "collage_prompting/offline_imagenet_3x3_ga.py", options(root, tmp_path / "r"))
    run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
    results = json.loads((run_dir / "results.json").read_text())
    rows = SampleStore(run_dir, results["config_sha256"]).load()
    metrics = results["metrics"]
    assert metrics["collages_with_recorded"] == 4 and metrics["predictor_train_collages"] == len(COUNTS) - 4
    assert metrics["official_weights"] == 0 and rows["arrangement"].shape == (4, 9)

    checkpoint = torch.load(json.loads((run_dir / "provenance.json").read_text())["checkpoint"], weights_only=True)
    predictor = CollageAccuracyPredictor(**checkpoint["predictor"]["kwargs"])
    predictor.load_state_dict(checkpoint["predictor"]["state_dict"])
    chosen, best, mean = [], [], []
    for sample_id in rows["sample_id"]:       # directly from the pickle: each record in its own ori order
        records = [e for e in meta.values() if collage_key(e["ori"]) == collage_key(meta[sample_id]["ori"])]
        accuracy = [float(np.mean(e["pred"])) for e in records]
        scores = [float(score_arrangements(predictor, torch.stack([torch.from_numpy(
            np.load(root / "train/subset/feat" / feature_name(name)).reshape(-1)) for name in e["ori"]]),
            torch.as_tensor(np.asarray(e["ord"]))[None], 3)) for e in records]
        chosen.append(accuracy[int(np.argmax(scores))])
        best.append(max(accuracy))
        mean.append(float(np.mean(accuracy)))
    assert rows["recorded_chosen"].tolist() == pytest.approx(chosen)
    assert metrics["recorded_accuracy_chosen"] == pytest.approx(np.mean(chosen))
    assert metrics["recorded_accuracy_best"] == pytest.approx(np.mean(best))
    assert metrics["recorded_accuracy_mean"] == pytest.approx(np.mean(mean))
    assert chosen != mean                      # the predictor's pick is not the average record here
    heldout = CollagePromptHeldOut(str(root), 3, 0.5, 0)
    for i, sample_id in enumerate(rows["sample_id"]):    # the searched arrangement's score, as the predictor gives it
        index = heldout.keys.index(collage_key(meta[sample_id]["ori"]))
        expected = score_arrangements(predictor, heldout[index]["features"], rows["arrangement"][i][None], 3)
        assert float(rows["predicted_accuracy"][i]) == pytest.approx(float(expected), abs=1e-6)

    # the downstream config shares the train stage and scores the validation collages (no recorded answers)
    val = load_config(configs_root() / "collage_prompting/offline_dtd_3x3_ga.py",
                      {**options(root, tmp_path / "v"), "dataset.heldout_fraction": 0.0})
    val_dir = evaluate(val, wandb_mode="disabled", progress=False)
    val_metrics = json.loads((val_dir / "results.json").read_text())["metrics"]
    assert val_metrics["collages_with_recorded"] == 0 and "recorded_accuracy_chosen" not in val_metrics
    assert val_metrics["predictor_target_mean"] == metrics["predictor_target_mean"]


def trained_method(tmp_path: Path, root: Path, search: str = "ga", **fit: object) -> CollageArrangementSearch:
    method = CollageArrangementSearch(grid=3, search=search)
    train = CollagePrompt(str(root), grid=3, split="train", heldout_fraction=0.5, heldout_seed=0)
    path = method.fit(train, None, tmp_path / "train", torch.device("cpu"), **{"epochs": 2, "hidden": 8, **fit})
    method.use_checkpoint(path)
    method.setup(torch.device("cpu"))
    return method


def test_ga_is_deterministic_by_seed_and_a_training_collage_is_refused(tmp_path):
    root = fixture(tmp_path)
    method = trained_method(tmp_path, root)
    heldout = CollagePromptHeldOut(str(root), grid=3, heldout_fraction=0.5, heldout_seed=0)
    batch = method.collate([{**heldout[i], "sample_id": heldout.sample_id(i)} for i in range(len(heldout))])
    seeds = torch.tensor([11, 12, 13, 14])
    first, second = method.predict(batch, seeds), method.predict(batch, seeds)
    assert torch.equal(first["arrangement"], second["arrangement"])
    assert torch.equal(first["predicted_accuracy"], second["predicted_accuracy"])
    other = method.predict(batch, seeds + 1000)
    assert not torch.equal(other["arrangement"], first["arrangement"])
    wrong = CollagePromptHeldOut(str(root), grid=3, heldout_fraction=0.5, heldout_seed=1)
    trained_on = next(i for i in range(len(wrong)) if wrong.keys[i] not in heldout.keys)
    bad = method.collate([{**wrong[trained_on], "sample_id": wrong.sample_id(trained_on)}])
    with pytest.raises(ValueError, match="was in the predictor's training records: the dataset's heldout_fraction"):
        method.predict(bad, torch.tensor([0]))


def test_official_weights_are_the_train_stage_artefact(tmp_path):
    root = CollagePrompt.write_example(tmp_path / "dataset", grid=3, num_collages=6, dim=32)
    write_legacy(official_layout_state(hidden=16, in_dim=32), tmp_path / "499.pth")
    method = trained_method(tmp_path, root, weights=str(tmp_path / "499.pth"))
    mean, std = CollagePrompt(str(root), grid=3, split="train").accuracy_stats()
    facts = method.fitted_values()
    assert facts["official_weights"] == 1.0 and facts["predictor_target_mean"] == pytest.approx(mean)
    assert float(method.predictor.target_std) == pytest.approx(std)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['epoch'\]"):
        method.fit(CollagePrompt(str(root), grid=3), None, tmp_path / "x", torch.device("cpu"), epoch=3)
    official = official_layout_state(hidden=16, in_dim=32)["conv1.weight"]
    assert torch.equal(method.predictor.conv1.lin.weight, official.t())
