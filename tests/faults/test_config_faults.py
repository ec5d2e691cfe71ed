"""Faulty configs, overrides and command-line arguments: each is refused with one message naming the key or file."""
from __future__ import annotations

from pathlib import Path

import pytest

from fault_harness import expect_clear, run_cli, write_eval_config

BAD_OVERRIDES = [  # (case, --cfg-options or CLI args, tokens the message must name)
    ("batch size not a number", ["--cfg-options", "run.batch_size=abc"], ["run.batch_size", "abc"]),
    ("batch size zero", ["--cfg-options", "run.batch_size=0"], ["run.batch_size", "0"]),
    ("seed not an integer", ["--cfg-options", "run.seed=abc"], ["run.seed", "abc"]),
    ("seed a float", ["--cfg-options", "run.seed=1.5"], ["run.seed", "1.5"]),
    ("unknown precision", ["--cfg-options", "run.precision=fp8"], ["run.precision", "fp8"]),
    ("unknown device", ["--cfg-options", "run.device=tpu"], ["run.device", "tpu"]),
    ("negative workers", ["--cfg-options", "run.num_workers=-1"], ["run.num_workers", "-1"]),
    ("flush every zero", ["--cfg-options", "run.flush_every=0"], ["run.flush_every", "0"]),
    ("flush seconds text", ["--cfg-options", "run.flush_seconds=soon"], ["run.flush_seconds", "soon"]),
    ("limit zero", ["--limit", "0"], ["run.limit", "0"]),
    ("limit negative", ["--limit", "-3"], ["run.limit", "-3"]),
    ("limit text in options", ["--cfg-options", "run.limit=ten"], ["run.limit", "ten"]),
    ("unknown run key", ["--cfg-options", "run.batchsize=8"], ["batchsize", "batch_size"]),
    ("unknown method type", ["--cfg-options", "method.type=NoSuchMethod"], ["NoSuchMethod"]),
    ("unknown method argument", ["--cfg-options", "method.bogus_key=1"], ["bogus_key"]),
    ("method argument of the wrong type", ["--cfg-options", "method.num_classes=abc"], ["num_classes", "abc"]),
    ("unknown dataset split", ["--cfg-options", "dataset.split=bogus"], ["split", "bogus"]),
    ("metrics not a list", ["--cfg-options", "task.metrics=5"], ["metrics"]),
    ("metric entry not a dict", ["--cfg-options", "task.metrics=[dict(type='NoSuchMetric')]"], ["task.metrics"]),
    ("work dir value not a path", ["--cfg-options", "run.work_dir=[1,2]"], ["run.work_dir"]),
]


@pytest.mark.parametrize("case, args, names", BAD_OVERRIDES, ids=[c[0] for c in BAD_OVERRIDES])
def test_bad_override_is_refused_naming_the_key(case, args, names, tmp_path: Path, digits_checkpoint: Path):
    config = write_eval_config(tmp_path, digits_checkpoint)
    outcome = run_cli("run", config, "--no-progress", "--no-wandb", *args)
    expect_clear(case, outcome, *names)
    assert not list((tmp_path / "run").glob("samples/*.pt")), "a refused config computed samples"


def test_cuda_device_without_a_gpu_is_refused(tmp_path: Path, digits_checkpoint: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    config = write_eval_config(tmp_path, digits_checkpoint)
    outcome = run_cli("run", config, "--no-progress", "--no-wandb", "--cfg-options", "run.device=cuda")
    expect_clear("cuda without a GPU", outcome, "run.device", "cuda")


CONFIG_FILES = [  # (case, file text, tokens)
    ("syntax error", "dataset = dict(type='Digits'\nmethod = 1\n", ["bad.py", "line"]),
    ("name error", "dataset = dict(type=Digits)\n", ["bad.py", "Digits"]),
    ("missing section", "dataset = dict(type='Digits')\n", ["bad.py", "method"]),
    ("section not a dict", "dataset = 5\nmethod = dict(type='TimmClassifier')\ntask = dict(type='Classification')\n",
     ["bad.py", "dataset"]),
    ("run not a dict", "_base_ = ['{demo}']\nrun = 3\n", ["bad.py", "run"]),
    ("missing base file", "_base_ = ['nowhere/base.py']\n", ["bad.py", "nowhere/base.py"]),
    ("binary garbage", b"\x00\xff\xfe garbage \x00".decode("latin-1"), ["bad.py"]),
    ("empty file", "", ["bad.py", "dataset"]),
    ("not python suffix", None, ["bad.txt"]),
]


@pytest.mark.parametrize("case, text, names", CONFIG_FILES, ids=[c[0] for c in CONFIG_FILES])
def test_bad_config_file_is_refused_naming_it(case, text, names, tmp_path: Path):
    from bench.config import configs_root

    demo = configs_root() / "demo" / "harness_digits.py"
    path = tmp_path / ("bad.txt" if text is None else "bad.py")
    path.write_text("dataset = dict(type='Digits')\n" if text is None else text.replace("{demo}", str(demo)),
                    encoding="latin-1")
    expect_clear(case, run_cli("validate", path), *names)


def test_missing_config_names_it_and_suggests(tmp_path: Path):
    expect_clear("missing config", run_cli("run", "demo/harness_digit"), "demo/harness_digit", "harness_digits")


COMMANDS = [  # (case, argv, tokens)
    ("score a missing folder", ["score", "{tmp}/nowhere"], ["{tmp}/nowhere"]),
    ("score a folder without a run", ["score", "{tmp}"], ["{tmp}", "config.py"]),
    ("table of an unknown paper", ["table", "no_such_paper"], ["no_such_paper"]),
    ("sweep grid without values", ["sweep", "demo/harness_digits", "--local", "--grid", "run.seed"], ["run.seed"]),
    ("cost with a bad input shape", ["cost", "demo/harness_digits", "--input-shape", "3,x"], ["--input-shape", "3,x"]),
    ("reference of a missing folder", ["reference", "{tmp}/no_images", "--out", "{tmp}/ref.npz", "--weights", "w.pth"],
     ["{tmp}/no_images"]),
    ("reference extractor not JSON", ["reference", "{tmp}", "--out", "{tmp}/r.npz", "--extractor", "{bad"],
     ["--extractor"]),
]


@pytest.mark.parametrize("case, argv, names", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_bad_command_arguments(case, argv, names, tmp_path: Path):
    fill = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    expect_clear(case, run_cli(*fill), *[n.replace("{tmp}", str(tmp_path)) for n in names])


def test_score_with_a_corrupt_config_in_the_run(tmp_path: Path, digits_checkpoint: Path):
    config = write_eval_config(tmp_path, digits_checkpoint)
    assert run_cli("run", config, "--no-progress", "--no-wandb").status == 0
    (tmp_path / "run" / "config.py").write_text("dataset = dict(\n")
    expect_clear("corrupt config.py in a run", run_cli("score", tmp_path / "run"), tmp_path / "run" / "config.py")


def test_table_with_a_corrupt_results_file(tmp_path: Path, digits_checkpoint: Path):
    config = write_eval_config(tmp_path, digits_checkpoint)
    assert run_cli("run", config, "--no-progress", "--no-wandb").status == 0
    results = tmp_path / "run" / "results.json"
    results.write_text(results.read_text()[:40])
    expect_clear("truncated results.json", run_cli("leaderboard", "--runs", tmp_path), results)
