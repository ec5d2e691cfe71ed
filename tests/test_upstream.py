"""The upstream section (bench.upstream): products resolved by the runner before build, their facts in the config
hash, config.py and provenance; cycle, missing-config and unresolved-reference errors; constructors never train."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import runner
from bench.config import ConfigError, config_hash, load_config
from bench.io import sha256_file
from bench.results import CONFIG_FILE, read_results, results_root, train_dir_for
from bench.upstream import UpstreamError, check_graph, resolve
from helpers import REPO

BASES = [f"{REPO}/configs/_base_/{name}.py" for name in ("default_run", "datasets/digits", "tasks/classification")]
CLASSIFIER = ("method = dict(type='TimmClassifier', model_name='test_resnet', num_classes=10, in_chans=1, "
              "input_size=16, mean=0.5, std=0.5)\n")
TRAIN = "train = dict(dataset=dict(type='Digits', split='train', split_seed=0), epochs=1, batch_size=64, lr=3e-3)\n"


def write(path: Path, body: str) -> Path:
    path.write_text(f"_base_ = {BASES!r}\n" + body)
    return path


@pytest.fixture()
def chain(tmp_path: Path) -> dict[str, Path]:
    """``clf`` trains the digits classifier (1 epoch); ``down`` evaluates that checkpoint through an upstream."""
    clf = write(tmp_path / "clf.py", CLASSIFIER + TRAIN + "run = dict(limit=64)\n")
    down = write(tmp_path / "down.py", CLASSIFIER.replace("std=0.5)", "std=0.5, checkpoint='upstream:clf')")
                 + f"upstream = dict(clf=dict(config={str(clf)!r}, product='checkpoint'))\nrun = dict(limit=64)\n")
    return {"clf": clf, "down": down}


def test_checkpoint_product_trains_once_hashes_and_records(chain: dict[str, Path], monkeypatch: pytest.MonkeyPatch):
    cfg = load_config(chain["down"])
    with pytest.raises(UpstreamError, match=f"bench train {chain['clf']}"):  # validate never trains
        runner.validate(load_config(chain["down"]))
    run_dir = runner.evaluate(cfg, progress=False, wandb_mode="disabled")
    upstream_cfg = load_config(chain["clf"])
    checkpoint = train_dir_for(upstream_cfg) / "final.pth"
    facts = json.loads((run_dir / "provenance.json").read_text())["upstream"]["clf"]
    assert facts["path"] == str(checkpoint) and facts["sha256"] == sha256_file(checkpoint)
    assert facts["config_sha256"] == config_hash(upstream_cfg) and facts["method"]["model_name"] == "test_resnet"
    # the same model evaluated by its own config gives the same accuracy on the same 64 samples
    own = read_results(runner.evaluate(upstream_cfg, progress=False, wandb_mode="disabled"))
    results = read_results(run_dir)
    assert results["metrics"]["accuracy"] == own["metrics"]["accuracy"] and results["samples"]["effective"] == 64
    # the written config.py carries the facts: its hash is the run's, and score and validate use them as recorded
    written = load_config(run_dir / CONFIG_FILE)
    assert written.upstream.clf.resolved.sha256 == facts["sha256"]
    assert config_hash(written) == results["config_sha256"] == config_hash(cfg)
    monkeypatch.setattr(runner, "train", lambda *a, **k: pytest.fail("score must not train"))
    assert runner.score(run_dir)["metrics"] == results["metrics"]
    assert runner.validate(load_config(chain["down"]))["run_dir"] == str(run_dir)


def test_a_changed_upstream_changes_the_downstream_hash(chain: dict[str, Path]):
    first = load_config(chain["down"])
    declared = config_hash(first)
    resolve(first)
    second = load_config(chain["down"], {"upstream.clf.options": {"train.lr": 1e-3}})
    resolve(second)
    assert config_hash(first) != declared  # the resolved facts are hashed
    a, b = (cfg.upstream.clf.resolved for cfg in (first, second))
    assert a.config_sha256 != b.config_sha256 and a.sha256 != b.sha256 and a.path != b.path
    assert config_hash(first) != config_hash(second)
    assert runner.run_dir_for(first, config_hash(first)) != runner.run_dir_for(second, config_hash(second))
    again = load_config(chain["down"])
    resolve(again)  # the finished train stage is found, not retrained: same facts, same hash
    assert config_hash(again) == config_hash(first)
    # the hash follows the product's content, not where it lies: another results root gives the same hash
    moved = load_config(chain["down"])
    moved.upstream.clf.resolved = {**first.upstream.clf.resolved, "path": "/elsewhere/final.pth"}
    assert config_hash(moved) == config_hash(first)


def test_run_and_logits_products(tmp_path: Path, digits_checkpoint: Path):
    clf = write(tmp_path / "clf.py", CLASSIFIER.replace("std=0.5)", f"std=0.5, checkpoint={str(digits_checkpoint)!r})")
                + "run = dict(limit=32)\n")
    body = ("upstream = dict(logits=dict(config={c!r}, product='{p}'))\n"
            "dataset = dict(_delete_=True, type='CachedLogits', run_dir='upstream:logits')\n"
            "method = dict(type='PostHocCalibration', calibrator=dict(type='Uncalibrated'), "
            "fit_on=dict(type='CachedLogits', run_dir='upstream:logits'))\n"
            "task = dict(_delete_=True, type='calibration', metrics=[dict(type='Accuracy')])\n")
    partial = write(tmp_path / "cal.py", body.format(c=str(clf), p="logits"))
    with pytest.raises(UpstreamError, match="'partial'.*every sample"):  # run.limit: not every logit
        resolve(load_config(partial))
    run_cfg = load_config(partial, {"upstream.logits.product": "run"})
    facts = resolve(run_cfg)["logits"]  # the run already exists: found, not rerun
    run_dir = Path(facts["path"])
    assert run_dir == results_root() / "runs" / "demo" / f"clf-{facts['config_sha256'][:12]}"
    created = read_results(run_dir)["created"]
    assert resolve(load_config(partial, {"upstream.logits.product": "run"}))["logits"] == facts
    assert read_results(run_dir)["created"] == created and len(facts["results_sha256"]) == 64
    # a run's ".method" is the method section that run evaluates (here with its own checkpoint path)
    assert facts["method"]["type"] == "TimmClassifier" and facts["method"]["checkpoint"] == str(digits_checkpoint)


def test_cycles_and_missing_configs_are_named(tmp_path: Path):
    ref = CLASSIFIER + "dataset = dict(_delete_=True, type='CachedLogits', run_dir='upstream:other')\n"
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    write(a, ref + f"upstream = dict(other=dict(config={str(b)!r}, product='run'))\n")
    write(b, ref + f"upstream = dict(other=dict(config={str(a)!r}, product='logits'))\n")
    cfg = load_config(a)
    with pytest.raises(UpstreamError, match=r"upstream cycle: a -> b -> a"):
        check_graph(cfg, str(a))
    with pytest.raises(UpstreamError, match=r"upstream cycle: a -> b -> a"):
        runner.evaluate(cfg, progress=False)
    write(b, ref + "upstream = dict(other=dict(config='demo/no_such_config', product='run'))\n")
    with pytest.raises(UpstreamError, match=r"upstream 'other'.*'demo/no_such_config' not found"):
        resolve(load_config(a))


@pytest.mark.parametrize(("body", "message"), [
    ("upstream = dict(x=dict(config='demo/harness_digits', product='weights'))\n"
     "method = dict(checkpoint='upstream:x')\n", "unknown product 'weights'; choose one of checkpoint, run, logits"),
    ("upstream = dict(x=dict(config='demo/harness_digits', product='run', option={}))\n"
     "method = dict(checkpoint='upstream:x')\n", "unknown key.*'option'.*Did you mean 'options'"),
    ("method = dict(checkpoint='upstream:x')\n", "refers to 'upstream:x'.*declares nothing"),
    ("upstream = dict(x=dict(config='demo/harness_digits', product='checkpoint'))\n", "never referenced"),
    ("upstream = dict(x=dict(config='demo/harness_digits', product='run'))\n"
     "method = dict(checkpoint='upstream:x.methods')\n", "a reference reads 'upstream:<name>'"),
])
def test_malformed_upstream_sections_are_config_errors(tmp_path: Path, body: str, message: str):
    path = write(tmp_path / "bad.py", CLASSIFIER + body)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_constructors_never_resolve_or_train(chain: dict[str, Path], monkeypatch: pytest.MonkeyPatch):
    from bench.datasets.cached_logits import CachedLogits
    from bench.methods.classifier.features import TrainedClassifierFeatures

    monkeypatch.setattr(runner, "train", lambda *a, **k: pytest.fail("a constructor trained"))
    with pytest.raises(UpstreamError, match="not resolved"):
        runner.build(load_config(chain["down"]))
    with pytest.raises(UpstreamError, match="unresolved upstream reference"):
        TrainedClassifierFeatures(method={"type": "TimmClassifier"}, checkpoint="upstream:clf")
    with pytest.raises(UpstreamError, match="unresolved upstream reference"):
        CachedLogits(run_dir="upstream:logits")
    assert not train_dir_for(load_config(chain["clf"])).exists()
    assert not hasattr(runner, "trained_method")


def test_configs_without_upstream_keep_their_hash():
    """The committed calibration reproductions (8 configs, and the 2 x 5 seed-sweep points of the Monte-Carlo spread
    cells) are hashed as their configs, with the run seed the sweep set, give them today."""
    runs = sorted((REPO / "results" / "reproduced" / "consistency_calibration").glob("*/results.json"))
    assert len(runs) == 18
    for path in runs:
        recorded = json.loads(path.read_text())
        seed = json.loads((path.parent / "provenance.json").read_text())["seeds"]["base_seed"]
        cfg = load_config(f"consistency_calibration/regression_cifar10_r50/{recorded['name']}", {"run.seed": seed})
        assert config_hash(cfg) == recorded["config_sha256"], path


def test_a_folder_product_hash_ignores_its_run_lock(tmp_path: Path):
    from bench.runlock import run_lock
    from bench.upstream import sha256_path

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "losses.npy").write_bytes(b"abc")
    before = sha256_path(tmp_path)
    with run_lock(tmp_path, what="writer", wait=True):  # writes .lock with the holder's pid and time
        pass
    assert (tmp_path / ".lock").is_file() and sha256_path(tmp_path) == before
    (tmp_path / "sub" / "losses.npy").write_bytes(b"abd")
    assert sha256_path(tmp_path) != before
