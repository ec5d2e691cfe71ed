"""``bench reproduce``: the plan is config_cells' mapping plus upstreams in order, preflight names every missing
file, execution resumes and survives a failing config, and the demo path runs end to end."""
from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

import bench.runner
from bench import reproduce
from bench.catalogue import config_cells
from bench.cli import main
from bench.reported import all_slugs

CC = "consistency_calibration"
DEMO_CONFIGS = ["0_logits_test", "0_logits_val", "1_cc", "1_hb", "1_ts", "1_uncalibrated"]
REAL_EVALUATE = bench.runner.evaluate
PAPERS = [slug for slug in all_slugs() if config_cells(slug)]


@pytest.fixture(scope="module")
def _trained_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo digits classifier's train folder, trained once for this module (the logit-cache demos train it)."""
    import os

    from bench.config import load_config

    root = tmp_path_factory.mktemp("trained")
    saved = os.environ.get("BENCH_RESULTS_DIR")
    os.environ["BENCH_RESULTS_DIR"] = str(root)
    try:
        bench.runner.train(load_config(f"demo/{CC}_0_logits_test"))
    finally:
        if saved is None:
            os.environ.pop("BENCH_RESULTS_DIR", None)
        else:
            os.environ["BENCH_RESULTS_DIR"] = saved
    return root / "runs" / "demo" / "train"


def _share_training(root: Path, trained_root: Path) -> None:
    (root / "runs" / "demo").mkdir(parents=True)
    (root / "runs" / "demo" / "train").symlink_to(trained_root)


@pytest.fixture
def trained(_trained_root: Path) -> Path:
    """This test's results root shares the module's trained classifier (train folders are keyed by content)."""
    from bench.results import results_root

    _share_training(results_root(), _trained_root)
    return _trained_root


@pytest.mark.parametrize("slug", PAPERS)
def test_plan_lists_exactly_the_configs_config_cells_maps_in_dependency_order(slug):
    cells = config_cells(slug)
    plan = reproduce.plan(slug)
    filling = [step for step in plan.steps if step.cells]
    assert {step.config for step in filling} == {name for names in cells.values() for name in names}
    for step in filling:
        assert set(step.cells) == {key for key, names in cells.items() if step.config in names}
        assert step.stage == "run" and not step.options
    keys = [step.key for step in plan.steps]
    assert len(keys) == len(set(keys))
    needed = {need for step in plan.steps for need in step.needs}
    for position, step in enumerate(plan.steps):
        assert all(keys.index(need) < position for need in step.needs)  # upstreams first
        assert step.cells or step.key in needed  # a step without cells is some step's upstream


def test_plan_of_one_table_and_its_errors():
    tables = sorted({key[0] for key in config_cells(CC)})
    plan = reproduce.plan(CC, table=tables[0])
    assert plan.steps and all(key[0] == tables[0] for step in plan.steps for key in step.cells)
    assert plan.name == f"{CC}-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", tables[0])
    with pytest.raises(ValueError, match=r"consistency_calibration has no configured table 'Table 99'; configured "):
        reproduce.plan(CC, table="Table 99")
    with pytest.raises(ValueError, match=r"unknown paper 'consistency_calibraton'\. Did you mean "
                                         r"'consistency_calibration'"):
        reproduce.plan("consistency_calibraton")


def test_upstream_stages_come_first_train_for_a_checkpoint_run_for_logits():
    kd = reproduce.plan("two_in_one_kd")
    keys = [step.key for step in kd.steps]
    teacher = "train:two_in_one_kd/teacher_ffpp_c23.py"
    student = next(step for step in kd.steps if step.config == "two_in_one_kd/ablation_ffpp_c23_none.py")
    assert teacher in student.needs and keys.index(teacher) < keys.index(student.key)
    assert kd.steps[keys.index(teacher)].cells == ()

    demo = reproduce.plan(CC, demo=True)
    assert [step.config for step in demo.steps] == [f"demo/{CC}_{name}.py" for name in DEMO_CONFIGS]
    logits = (f"run:demo/{CC}_0_logits_test.py", f"run:demo/{CC}_0_logits_val.py")
    assert all(set(step.needs) == set(logits) for step in demo.steps[2:])


def _cifar10_layout(root: Path) -> Path:
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 3],
             b"filenames": [b"a", b"b", b"c", b"d"]}
    for name in ("test_batch", *(f"data_batch_{i}" for i in range(1, 6))):
        (base / name).write_bytes(pickle.dumps(batch))
    (base / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}))
    return base


def _tiny_config(tmp_path: Path, root: Path, checkpoint: Path) -> Path:
    path = tmp_path / "tiny_cifar.py"
    path.write_text(f"dataset = dict(type='CIFAR10', root={str(root)!r}, split='test')\n"
                    f"method = dict(type='CifarZooClassifier', arch='resnet50', num_classes=10, "
                    f"checkpoint={str(checkpoint)!r})\n"
                    "task = dict(type='classification', metrics=[dict(type='Accuracy')])\n")
    return path


def test_preflight_names_every_missing_file_of_a_fixture_layout(tmp_path):
    base = _cifar10_layout(tmp_path / "cifar")
    checkpoint = tmp_path / "resnet50_cross_entropy_350.model"
    checkpoint.write_bytes(b"weights")
    config = _tiny_config(tmp_path, tmp_path / "cifar", checkpoint)
    plan = reproduce.plan_configs(CC, {str(config): ()})
    complete = reproduce.preflight(plan)
    assert complete.missing == [] and complete.samples == {f"run:{config}": 4}

    (base / "test_batch").unlink()
    checkpoint.unlink()
    checked = reproduce.preflight(plan)
    assert [(m.path, m.what) for m in checked.missing] == [
        (str(checkpoint), "method.checkpoint"), (str(base / "test_batch"), "dataset CIFAR10")]
    assert "cifar-10-python.tar.gz" in checked.missing[1].obtain  # the reader's own advice
    assert "configs/consistency_calibration/README.md" in checked.missing[0].obtain
    assert checked.blocked(plan) == {f"run:{config}": f"missing {checkpoint}"}
    text = reproduce.render_preflight(plan, checked)
    assert "## Missing: 2 file(s) or folder(s)" in text
    assert f"- [ ] {base / 'test_batch'}" in text and f"- [ ] {checkpoint}" in text


def _counting_evaluate(monkeypatch, fail: dict[str, BaseException] | None = None) -> list[str]:
    """Replace the runner's evaluate (what every step and upstream calls) by one recording config names."""
    calls: list[str] = []

    def evaluate(cfg, **kwargs):  # noqa: ANN001, ANN202 - the runner's signature
        calls.append(cfg.name.removeprefix(f"{CC}_"))
        if cfg.name.removeprefix(f"{CC}_") in (fail or {}):
            raise fail[cfg.name.removeprefix(f"{CC}_")]
        return REAL_EVALUATE(cfg, **kwargs)

    monkeypatch.setattr(bench.runner, "evaluate", evaluate)
    return calls


def test_an_interrupted_execution_resumes_without_recomputing_finished_configs(monkeypatch, trained):
    full = reproduce.plan(CC, demo=True)  # without CC itself (its 1000 noise draws per sample take seconds)
    plan = reproduce.Plan(CC, None, True, [step for step in full.steps if not step.config.endswith("_1_cc.py")])
    calls = _counting_evaluate(monkeypatch, fail={"1_ts": KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C stops the whole execution
        reproduce.execute(plan, echo=lambda line: None)
    assert calls == ["0_logits_test", "0_logits_val", "1_hb", "1_ts"]

    calls = _counting_evaluate(monkeypatch)
    outcomes = reproduce.execute(plan, echo=lambda line: None)
    assert calls == ["1_ts", "1_uncalibrated"]  # the three finished configs are not run again
    assert [(o.status, o.reason) for o in outcomes] == [("skipped", "complete already")] * 3 + [("ran", "")] * 2


def test_a_failing_config_does_not_stop_the_others(monkeypatch, trained):
    plan = reproduce.plan(CC, demo=True)
    calls = _counting_evaluate(monkeypatch, fail={"0_logits_test": ValueError("boom: no such layout")})
    outcomes = reproduce.execute(plan, echo=lambda line: None)
    assert calls == ["0_logits_test", "0_logits_val"]
    assert [o.status for o in outcomes] == ["failed", "ran", "skipped", "skipped", "skipped", "skipped"]
    assert outcomes[0].reason == "ValueError: boom: no such layout"
    assert outcomes[2].reason == (f"needs run:demo/{CC}_0_logits_test.py, which failed: ValueError: boom: no such "
                                  "layout")
    folder = reproduce.write_report(plan, outcomes)
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["counts"] == {"ran": 1, "skipped": 4, "failed": 1}
    assert "consistency_calibration_0_logits_val-" in (folder / "table.md").read_text()


def test_reproduce_demo_end_to_end_then_again_all_skipped(tmp_path, capsys, trained):
    assert main(["reproduce", CC, "--demo", "--no-wandb"]) == 0
    out = capsys.readouterr().out
    assert f"bench reproduce {CC}-demo: ran 6, skipped 0, failed 0" in out
    folder = Path(out.rsplit("table and summary in ", 1)[1].strip())
    table = (folder / "table.csv").read_text().splitlines()
    assert len(table) == 7 and all(f"{CC}_{name}" in "\n".join(table) for name in DEMO_CONFIGS)
    assert (folder / "table.tex").read_text().startswith("\\begin{tabular}")
    assert main(["reproduce", CC, "--demo", "--no-wandb"]) == 0
    assert f"bench reproduce {CC}-demo: ran 0, skipped 6, failed 0" in capsys.readouterr().out
    again = (folder / "table.csv").read_text().splitlines()  # the same runs, re-read
    assert [line.split(",")[:5] for line in again] == [line.split(",")[:5] for line in table]


def test_dry_run_exits_non_zero_when_something_is_missing(capsys):
    assert main(["reproduce", CC, "--table", sorted({k[0] for k in config_cells(CC)})[0], "--dry-run"]) == 1
    out = capsys.readouterr().out
    assert "## Missing:" in out and "- [ ] data/calibrator_logits/" in out
    assert main(["reproduce", CC, "--demo", "--dry-run"]) == 0
    assert "Every file the plan names is present." in capsys.readouterr().out


@pytest.mark.slow
def test_ray_and_local_give_the_same_table(tmp_path, monkeypatch, trained):
    tables = []
    for name, parallel in (("local", 1), ("ray", 2)):
        monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / name))
        _share_training(tmp_path / name, trained)
        plan = reproduce.plan(CC, demo=True)
        outcomes = reproduce.execute(plan, max_parallel=parallel, echo=lambda line: None)
        assert [o.status for o in outcomes] == ["ran"] * 6
        csv = (reproduce.write_report(plan, outcomes) / "table.csv").read_text().splitlines()
        header = csv[0].split(",")
        keep = [i for i, column in enumerate(header) if column != "samples/s"]
        tables.append([[line.split(",")[i] for i in keep] for line in csv])
    assert tables[0] == tables[1]


def test_a_step_blocked_by_a_missing_file_is_skipped_with_its_dependents(monkeypatch):
    plan = reproduce.plan(CC, demo=True)
    calls = _counting_evaluate(monkeypatch)
    missing = [reproduce.Missing(f"demo/{CC}_0_logits_val.py", "dataset Digits", "/nowhere/digits", "get it")]
    blocked = reproduce.Preflight(missing).blocked(plan)
    assert blocked[f"run:demo/{CC}_0_logits_val.py"] == "missing /nowhere/digits"
    assert blocked[f"run:demo/{CC}_1_ts.py"] == (f"needs run:demo/{CC}_0_logits_val.py, which is blocked (missing "
                                                  "/nowhere/digits)")
    blocked[f"run:demo/{CC}_0_logits_test.py"] = "missing /nowhere/digits"  # so that nothing runs here
    outcomes = reproduce.execute(plan, blocked=blocked, echo=lambda line: None)
    assert calls == [] and [o.status for o in outcomes] == ["skipped"] * 6
    assert outcomes[1].reason == "missing /nowhere/digits"


def test_a_plan_whose_upstream_step_is_left_out_is_refused():
    plan = reproduce.plan(CC, demo=True)
    partial = reproduce.Plan(CC, None, True, plan.steps[1:])
    with pytest.raises(ValueError, match=rf"plan of {CC}-demo: run:demo/{CC}_1_cc.py needs "
                                         rf"\['run:demo/{CC}_0_logits_test.py'\], which no earlier step runs"):
        reproduce.execute(partial, echo=lambda line: None)


def test_preflight_lists_method_checkpoints_named_under_the_local_roots():
    """A method's own checkpoint keys (DPMs-ANT's ``source.model``, ``network.adm``) match no path-key name; a value
    under ``checkpoints/`` or ``data/`` is checked anyway (nothing of DPMs-ANT's is on this machine)."""
    checked = reproduce.preflight(reproduce.plan("dpms_ant", table="main_fid"))
    missing = {m.path: m.what for m in checked.missing}
    assert missing["checkpoints/dpms_ant/ffhq256_ddpm"] == "method.source.model"
    assert missing["checkpoints/guided_diffusion/256x256_classifier.pt"].endswith("network.adm")
