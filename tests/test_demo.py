"""bench demo's framework: profile selection, --only, position lines, failing groups, the summary and its files.

Runs use throwaway configs in a temporary configs root (an untrained tiny timm classifier on 24 digits), so the
whole file takes seconds; the shipped demos' own numbers are each paper's tests' business.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import demo
from bench.cli import main
from bench.config import configs_root
from bench.demo import (DemoSummary, demo_configs, group_configs, group_of, known_groups, render_report, run_demo,
                        summarize_harness)
from bench.registry import DEMOS

BASE = configs_root() / "_base_"
TINY = f'''_base_ = ["{BASE}/default_run.py", "{BASE}/datasets/digits.py", "{BASE}/tasks/classification.py"]
method = dict(type="{{method}}", model_name="test_resnet", num_classes=10, in_chans=1, input_size=16, mean=0.5,
              std=0.5)
run = dict(limit=24, device="cpu")
'''


def _root(tmp_path: Path, quick: dict[str, str], full: dict[str, str] | None = None,
          slugs: tuple[str, ...] = ("alpha", "beta", "beta_gamma")) -> Path:
    """A configs root with a folder per paper slug, ``demo/<stem>.py`` and ``demo/full/<stem>.py`` (method type)."""
    root = tmp_path / "configs"
    for slug in slugs:
        (root / slug).mkdir(parents=True)
    for folder, files in ((root / "demo", quick), (root / "demo" / "full", full or {})):
        folder.mkdir(parents=True, exist_ok=True)
        for stem, method in files.items():
            (folder / f"{stem}.py").write_text(TINY.format(method=method))
    return root


def _stems(paths: list[Path]) -> list[str]:
    return [("full/" if p.parent.name == "full" else "") + p.stem for p in paths]


def test_profiles_and_only(tmp_path):
    root = _root(tmp_path, {"harness_digits": "T", "alpha_a": "T", "alpha_b": "T", "beta_x": "T"},
                 full={"alpha_long": "T"})
    assert _stems(demo_configs(root=root)) == ["alpha_a", "alpha_b", "beta_x", "harness_digits"]
    # full: alpha's files in full/ replace its quick ones; beta and harness have none there, so run their quick ones
    assert _stems(demo_configs(full=True, root=root)) == ["full/alpha_long", "beta_x", "harness_digits"]
    assert _stems(demo_configs(["alpha"], full=True, root=root)) == ["full/alpha_long"]
    assert _stems(demo_configs(["beta", "harness"], root=root)) == ["beta_x", "harness_digits"]
    with pytest.raises(ValueError, match=r"--only gamma: .*quick profile; available: alpha, beta, harness"):
        demo_configs(["gamma"], root=root)
    # harness runs first (the paper demos reuse its classifier), the rest in file-name order
    assert list(group_configs(demo_configs(root=root), root)) == ["harness", "alpha", "beta"]


def test_group_is_the_longest_known_prefix(tmp_path):
    root = _root(tmp_path, {})
    groups = known_groups(root)
    assert group_of(Path("beta_gamma_one.py"), groups) == "beta_gamma"
    assert group_of(Path("beta_one.py"), groups) == "beta"
    with pytest.raises(ValueError, match=r"zeta_x.py belongs to no group.*alpha, beta, beta_gamma.*rename it"):
        group_of(Path("zeta_x.py"), groups)


def test_shipped_profiles_group_cleanly():
    """Every shipped demo config, quick and full, belongs to a group, and harness is one of them."""
    for full in (False, True):
        grouped = group_configs(demo_configs(full=full))
        assert next(iter(grouped)) == "harness" and len(grouped) >= 4


def test_run_records_failure_summary_and_positions(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_PROGRESS", "0")
    root = _root(tmp_path, {"harness_digits": "TimmClassifier", "alpha_a": "TimmClassifier",
                            "beta_0_ok": "TimmClassifier", "beta_1_broken": "NoSuchMethod",
                            "beta_2_never": "TimmClassifier"})
    seen: dict[str, dict] = {}

    def alpha_summary(runs: dict[str, dict]) -> DemoSummary:
        seen.update(runs)
        return DemoSummary(headline={"accuracy": runs["alpha_a"]["metrics"]["accuracy"]}, sentence="alpha ran",
                           figures=["a.png"])

    monkeypatch.setitem(DEMOS._module_dict, "alpha", alpha_summary)
    results = tmp_path / "results"
    report = run_demo(root=root, results_dir=results, wandb_mode="disabled")
    lines = capsys.readouterr().out.splitlines()
    assert [re.sub(r"\d+\.\d s.*", "T", line) for line in lines] == [
        "[1/3] harness: 1 config", "[1/3] harness done in T",
        "[2/3] alpha: 1 config", "[2/3] alpha done in T",
        "[3/3] beta: 3 configs", "[3/3] beta FAILED in T"]
    assert "beta_1_broken: UnknownNameError" in lines[-1] and "NoSuchMethod" in lines[-1]

    harness, alpha, beta = report.groups
    assert [g.group for g in report.failed] == ["beta"]
    assert beta.failed_config == "beta_1_broken" and len(beta.run_dirs) == 1  # stopped: beta_2 never ran
    assert "NoSuchMethod" in beta.error and beta.summary is None
    assert set(seen) == {"alpha_a"} and Path(seen["alpha_a"]["run_dir"]) == alpha.run_dirs[0]
    assert alpha.summary.headline["accuracy"] == seen["alpha_a"]["metrics"]["accuracy"]
    assert harness.summary.headline["accuracy"] == pytest.approx(
        json.loads((harness.run_dirs[0] / "results.json").read_text())["metrics"]["accuracy"])
    assert all(g.elapsed_s > 0 for g in report.groups)

    table = report.summary_table().set_index("group")
    assert table.loc["alpha", "what it shows"] == "alpha ran" and table.loc["alpha", "figures"] == "a.png"
    assert table.loc["beta", "what it shows"].startswith("FAILED (beta_1_broken): UnknownNameError")
    assert len(report.leaderboard()) == 3  # harness_digits, alpha_a, beta_0_ok
    # printed per group, each with only the columns its runs fill (the whole table has every paper's metrics)
    boards = report.group_leaderboards()
    assert {group: len(frame) for group, frame in boards.items()} == {"harness": 1, "alpha": 1, "beta": 1}
    assert all(frame.notna().any().all() for frame in boards.values())
    assert "accuracy" in boards["harness"].columns
    assert all(f"### {group}\n" in render_report(report) for group in boards)

    written = json.loads((results / "demo" / "summary.json").read_text())
    assert written["profile"] == "quick" and written["failed"] == ["beta"]
    assert [g["group"] for g in written["groups"]] == ["harness", "alpha", "beta"]
    assert written["groups"][1]["summary"]["sentence"] == "alpha ran"
    md = (results / "demo" / "summary.md").read_text()
    assert md.startswith("## Demo summary") and "## Demo leaderboard" in md and "alpha_a-" in md


def test_group_without_summariser_resumes_and_cli_exit_codes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_PROGRESS", "0")
    root = _root(tmp_path, {"alpha_a": "TimmClassifier", "beta_x": "NoSuchMethod"})
    monkeypatch.setattr(demo, "configs_root", lambda: root)
    results = tmp_path / "results"
    assert main(["demo", "--only", "alpha", "--no-wandb", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "no summariser registered for 'alpha'" in out and "## Demo leaderboard" in out
    (run_dir,) = (results / "runs" / "demo").glob("alpha_a-*")
    chunks = {p: p.stat().st_mtime_ns for p in (run_dir / "samples").rglob("*") if p.is_file()}
    assert chunks

    assert main(["demo", "--no-wandb", "--results-dir", str(results)]) == 1  # beta fails, alpha resumes
    captured = capsys.readouterr()
    assert "[2/2] beta FAILED" in captured.out and "1 group(s) failed: beta" in captured.err
    assert {p: p.stat().st_mtime_ns for p in (run_dir / "samples").rglob("*") if p.is_file()} == chunks
    assert main(["demo", "--full", "--only", "alpha", "--no-wandb", "--results-dir", str(results)]) == 0


@pytest.mark.parametrize(("accuracy", "phrase"), [(0.97, "reaches 97.0% test accuracy"), (0.12, "did not learn")])
def test_harness_summary_sentence_follows_the_numbers(accuracy, phrase):
    summary = summarize_harness({"harness_digits": {"metrics": {"accuracy": accuracy, "ece_15": 0.02},
                                                    "run_dir": "r"}})
    assert phrase in summary.sentence and summary.headline == {"accuracy": accuracy, "ECE-15": 0.02}


def test_a_run_with_null_metrics_is_not_summarised_and_the_note_says_why(tmp_path):
    from bench.results import RESULT_KEYS, write_results

    run_dir = tmp_path / "harness_digits"
    write_results(run_dir, {**dict.fromkeys(RESULT_KEYS[1:]), "name": "harness_digits", "status": "flagged",
                            "metrics": {"accuracy": None, "ece_15": None}, "nonfinite_metrics": ["accuracy", "ece_15"]})
    summary, note = demo.summarise("harness", [run_dir])
    assert summary is None
    assert note.startswith("not summarised: metric(s) without a finite value (null in results.json) "
                           "{'harness_digits': ['accuracy', 'ece_15']} (TypeError: ")
