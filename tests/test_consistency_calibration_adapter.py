"""End to end: classifier logits cached by `bench run`, then calibrators fitted and scored from the cache."""
import json
from pathlib import Path

import pytest
import torch

from bench.config import load_config
from bench.data import DatasetLayoutError
from bench.datasets.cached_logits import CachedLogits
from bench.results import read_results
from bench.runner import RunExistsError, evaluate, score, validate
from bench.upstream import UpstreamError
from helpers import REPO

BASES = [f"{REPO}/configs/_base_/{name}.py" for name in ("default_run", "datasets/digits", "tasks/classification")]


@pytest.fixture(scope="module")
def classifier_config(tmp_path_factory, digits_checkpoint):
    path = tmp_path_factory.mktemp("cfg") / "digits_classifier.py"
    path.write_text(f"_base_ = {BASES!r}\n"
                    "method = dict(type='TimmClassifier', model_name='test_resnet', num_classes=10, in_chans=1, "
                    f"input_size=16, checkpoint={str(digits_checkpoint)!r})\n")
    return path


@pytest.fixture()
def cached(classifier_config):
    """Val and test logits of the digits classifier, in this test's results root: the classifier config and
    ``{split: run dir}``."""
    return classifier_config, {split: evaluate(load_config(classifier_config, {"dataset.split": split}),
                                               progress=False, wandb_mode="disabled") for split in ("val", "test")}


def calibration_config(tmp_path, source, calibrator, **run):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"cal_{calibrator['type']}.py"
    path.write_text(
        f"_base_ = ['{REPO}/configs/_base_/default_run.py', '{REPO}/configs/_base_/tasks/calibration.py']\n"
        f"upstream = dict(test=dict(config={str(source)!r}, product='logits', options={{'dataset.split': 'test'}}), "
        f"val=dict(config={str(source)!r}, product='logits', options={{'dataset.split': 'val'}}))\n"
        "dataset = dict(type='CachedLogits', run_dir='upstream:test')\n"
        f"method = dict(type='PostHocCalibration', calibrator={calibrator!r}, "
        "fit_on=dict(type='CachedLogits', run_dir='upstream:val'))\n"
        f"run = dict(batch_size={run.get('batch_size', 128)}, seed={run.get('seed', 0)})\n")
    return load_config(path)


def test_missing_cache_names_the_command(classifier_config, tmp_path):
    with pytest.raises(DatasetLayoutError, match="results.json"):
        CachedLogits(str(tmp_path / "no_run"))
    with pytest.raises(UpstreamError) as error:  # validate requires the products, and names the command
        validate(calibration_config(tmp_path, classifier_config, dict(type="Uncalibrated")))
    assert f"bench run {classifier_config} --cfg-options dataset.split=test" in str(error.value)


def test_cache_reads_the_classifier_outputs(cached):
    _, run_dirs = cached
    test, val = CachedLogits(str(run_dirs["test"])), CachedLogits(str(run_dirs["val"]))
    assert (len(val), len(test)) == (297, 500) and test.logits.shape == (500, 10)
    assert test.sample_id(0).startswith("digits-") and not set(test.ids) & set(val.ids)
    item = test[3]
    assert item["logits"].shape == (10,) and int(item["target"]) == int(test.targets[3])
    assert test.describe()["classifier_dataset"] == "Digits" and test.fingerprint() != val.fingerprint()
    assert (test.describe()["split"], val.describe()["split"]) == ("test", "val")


def test_consistency_calibration_run_scores_and_rescores(cached, tmp_path):
    cc = dict(type="ConsistencyCalibrator", num_samples=400, search_num_samples=100)
    run_dir = evaluate(calibration_config(tmp_path, cached[0], cc), progress=False, wandb_mode="disabled")
    results = read_results(run_dir)
    metrics = results["metrics"]
    assert {"accuracy", "ece_15", "adaece_15", "cece_15", "nll", "brier", "epsilon"} <= set(metrics)
    assert results["fitted"] == ["epsilon"] and not results["smoke"]
    uncal = read_results(evaluate(calibration_config(tmp_path, cached[0], dict(type="Uncalibrated")), progress=False,
                                  wandb_mode="disabled"))["metrics"]
    assert metrics["ece_15"] < uncal["ece_15"]  # the demo's claim, on the same classifier
    png = run_dir / results["figures"]["reliability_diagram"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["method"]["calibrator"]["noise_kind"] in ("gaussian", "uniform")
    assert provenance["method"]["fitted_on"]["split"] == "val"
    assert score(run_dir)["metrics"] == metrics  # `bench score` from stored probabilities keeps fitted values


def test_run_seed_drives_the_monte_carlo_noise(cached, tmp_path):
    cc = dict(type="ConsistencyCalibrator", noise="gaussian", eps=1.0, num_samples=200)
    from bench.config import config_hash
    from bench.store import SampleStore

    probs = []
    for seed in (0, 0, 1):
        cfg = calibration_config(tmp_path / str(len(probs)), cached[0], cc, seed=seed, batch_size=37 + len(probs))
        cfg.run.work_dir = str(tmp_path / f"run{len(probs)}")
        run_dir = evaluate(cfg, progress=False, wandb_mode="disabled")
        probs.append(SampleStore(run_dir, config_hash(cfg)).load()["probs"])
    assert torch.equal(probs[0], probs[1])  # another batch size, same seed: identical
    assert not torch.equal(probs[0], probs[2])


def test_resume_over_a_changed_cache_is_refused(cached, tmp_path, classifier_config):
    cfg = calibration_config(tmp_path, cached[0], dict(type="TemperatureScaling"))
    run_dir = evaluate(cfg, progress=False, wandb_mode="disabled")
    prov = json.loads((run_dir / "provenance.json").read_text())
    prov["dataset"]["fingerprint"] = "0" * 64  # as if the test logits had been recomputed differently
    (run_dir / "provenance.json").write_text(json.dumps(prov))
    with pytest.raises(RunExistsError, match="dataset fingerprint"):
        evaluate(cfg, resume=True, progress=False, wandb_mode="disabled")


def test_shipped_configs_load_and_sweeps_replace_the_calibrator():
    from bench.config import configs_root, to_plain
    from bench.methods.consistency_calibration import CALIBRATORS
    from bench.registry import TASKS
    from bench.sweep import config_grid

    paths = [p for p in (configs_root() / "consistency_calibration").rglob("*.py") if "_base_" not in p.parts]
    assert len(paths) == 38
    for path in paths:
        cfg = load_config(path)
        TASKS.build(to_plain(cfg.task))
        if not cfg.get("sweep"):
            continue
        if "run.seed" in config_grid(cfg):  # the Monte-Carlo spread sweeps: one run per seed
            assert config_grid(cfg) == {"run.seed": [0, 1, 2, 3, 4]} and cfg.paper.table == "mc_spread"
            assert load_config(path, {"run.seed": 3}).run.seed == 3
            continue
        for calibrator in config_grid(cfg)["method.calibrator"]:
            point = load_config(path, {"method.calibrator": calibrator})
            assert {k: v for k, v in calibrator.items() if k != "_delete_"} == to_plain(point.method.calibrator)
            CALIBRATORS.build(to_plain(point.method.calibrator))


def test_demo_shows_cc_beating_the_uncalibrated_ece(tmp_path):
    from bench.demo import run_demo

    report = run_demo(["consistency_calibration"], wandb_mode="disabled", results_dir=tmp_path)
    frame = report.leaderboard().set_index("run")
    ece = {run.split("-")[0].removeprefix("consistency_calibration_"): value for run, value in frame["ece_15"].items()}
    assert ece["1_cc"] < ece["1_uncalibrated"]
    assert set(ece) == {"0_logits_val", "0_logits_test", "1_uncalibrated", "1_ts", "1_hb", "1_cc"}
    assert len(list((tmp_path / "runs" / "demo" / "train").iterdir())) == 1  # val and test logits: one training
    (group,) = report.groups
    assert group.summary.headline["ECE-15 CC"] == pytest.approx(ece["1_cc"], abs=5e-5)  # the table rounds to 4 places
    assert all(Path(path).is_file() for path in group.summary.figures) and len(group.summary.figures) == 2


def _cc_runs(**ece: float) -> dict[str, dict]:
    return {f"consistency_calibration_1_{key}": {"metrics": {"ece_15": value}, "figures": {}, "run_dir": key}
            for key, value in ece.items()}


@pytest.mark.parametrize(("ece", "phrases"), [
    (dict(uncalibrated=0.03, cc=0.01, ts=0.02, hb=0.015), ["cuts ECE-15 from 3.00% to 1.00%", "beats every baseline",
                                                             "best: HB 1.50%"]),
    (dict(uncalibrated=0.03, cc=0.02, ts=0.011, hb=0.015), ["cuts ECE-15", "but TS does better (1.10%)",
                                                              "does not reproduce at this scale"]),
    (dict(uncalibrated=0.01, cc=0.02, ts=0.011, hb=0.015), ["does not lower ECE-15 (1.00% before, 2.00% after)"]),
])
def test_demo_summary_sentence_follows_the_numbers(ece, phrases):
    from bench.methods.consistency_calibration.demo import summarize

    summary = summarize(_cc_runs(**ece))
    assert all(phrase in summary.sentence for phrase in phrases), summary.sentence
    assert summary.headline == {"ECE-15 uncalibrated": ece["uncalibrated"], "ECE-15 CC": ece["cc"],
                                "ECE-15 HB": ece["hb"], "ECE-15 TS": ece["ts"]}
