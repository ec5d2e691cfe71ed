import argparse
import ast
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import build_parser, main
from helpers import REPO


def test_papers_json_lists_all_seventeen(capsys):
    assert main(["papers", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) == 17
    diffact = next(e for e in entries if e["slug"] == "diffact")
    assert diffact["status"] == "faithful" and diffact["reported_numbers"] == 15
    assert "diffact/gtea_split1.py" in diffact["configs"] and "demo/diffact_generated.py" in diffact["demo_configs"]
    idc = next(e for e in entries if e["slug"] == "idc")
    assert idc["status"] == "faithful" and "demo/idc_digits.py" in idc["demo_configs"]
    amg = next(e for e in entries if e["slug"] == "amg")
    assert amg["adapter"] and amg["status"] == "faithful" and "demo/amg_plain.py" in amg["demo_configs"]
    das = next(e for e in entries if e["slug"] == "das")
    assert das["adapter"] and das["status"].startswith("re-implementation; needs foundation weights not here (ArtBench")
    assert "das/lds_cifar2_das.py" in das["configs"] and "demo/full/das_1_das.py" in das["demo_configs"]
    assert "demo/das_1_das.py" in das["demo_configs"]  # the quick profile too
    be = next(e for e in entries if e["slug"] == "bright_ending")
    assert be["adapter"] and be["status"] == "faithful" and "demo/bright_ending_detect.py" in be["demo_configs"]
    kd = next(e for e in entries if e["slug"] == "two_in_one_kd")
    assert kd["status"] == "re-implementation" and "two_in_one_kd/ffpp_c23.py" in kd["configs"]
    assert "demo/two_in_one_kd_6_two_in_one.py" in kd["demo_configs"]
    trident = next(e for e in entries if e["slug"] == "trident")
    assert trident["status"] == "faithful; needs foundation weights not here (CLIP, DINO and SAM)"
    assert trident["foundation_weights_not_here"] == "CLIP, DINO and SAM" and trident["not_reproducible"] is None
    assert diffact["foundation_weights_not_here"] is None and "smoke_only" not in diffact
    assert idc["not_reproducible"].startswith("no IDC checkpoints, CIFAR data or GPU here")


LIGHT_COMMANDS = [["--help"], ["papers"], ["papers", "--json"], ["table", "diffact"], ["leaderboard"]]
HEAVY = ("torch", "timm", "mmengine", "bench.methods", "bench.datasets", "bench.runner")


@pytest.mark.parametrize("argv", LIGHT_COMMANDS, ids=" ".join)
def test_light_commands_import_no_torch_mmengine_or_adapter(argv):
    """``bench --help/papers/table/leaderboard`` answer at once: none of the heavy stacks is imported."""
    code = ("import contextlib, io, sys; from bench.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO.parent)
    assert out.stdout.strip() == "[]", out.stderr


def test_table_csv(capsys):
    assert main(["table", "diffact", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("table,setting,metric,reported,reproduced,delta,tolerance,status")
    assert len(lines) == 16


@pytest.mark.parametrize("argv, message", [
    (["run", "demo/harness_digit"], "Did you mean 'demo/harness_digits'"),
    (["run", "demo/harness_digits", "--cfg-options", "method.type=TimmClasifier"], "Did you mean 'TimmClassifier'"),
    (["run", "demo/harness_digits", "--cfg-options", "method.model_nme=x"], "Did you mean 'model_name'"),
    (["table", "difact"], "Did you mean 'diffact'"),
])
def test_user_errors_exit_2_with_a_suggestion(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_demo_runs_and_prints_its_leaderboard(tmp_path, capsys):
    assert main(["demo", "--only", "harness", "--no-wandb", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Demo leaderboard" in out and "harness_digits" in out
    (run_dir,) = (tmp_path / "runs" / "demo").glob("harness_digits-*")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["metrics"]["accuracy"] > 0.9
    prediction = json.loads((run_dir / "provenance.json").read_text())["prediction_rank0"]
    assert prediction["samples"] == 500 and prediction["samples_per_s"] > 0
    assert "samples/s" in out


def _bench_commands(text: str) -> list[str]:
    """Every ``bench <subcommand> [--option ...]`` in ``text``'s code spans: inline `...`/``...`` and fenced lines."""
    spans = re.findall(r"``(.+?)``|`([^`\n]+)`", text)
    fenced = re.findall(r"^[ \t]*(bench [^\n]*)$", "\n".join(re.findall(r"```[a-z]*\n(.*?)```", text, re.S)), re.M)
    candidates = [a or b for a, b in spans] + fenced
    return [m.group(0) for span in candidates for m in re.finditer(r"\bbench [a-z][a-z_-]*(?:[^`#]*)", span)]


def _unknown_commands(commands: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """The commands (``bench sub [ARGS] [--opt ...]``) the CLI parser lacks: an unknown subcommand or ``--option``,
    or more positional words than the subcommand takes (``bench reference build IMAGES`` has two for one)."""
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    bad = []
    for command in commands:
        plain = re.sub(r"<[^>]*>", "X", command)  # <classifier config> is one placeholder word
        words = [w.strip("[]") for w in plain.split() if w.strip("[]") not in ("", "...", "|")]
        sub = subparsers.get(words[1])
        if sub is None:
            bad.append(command)
            continue
        options = {s: a for a in sub._actions for s in a.option_strings}
        positional = [a for a in sub._actions if not a.option_strings]
        room = math.inf if any(a.nargs in ("*", "+") for a in positional) else len(positional)
        count, rest = 0, iter(words[2:])
        for word in rest:
            action = options.get(word.split("=")[0]) if word.startswith("-") else None
            if word.startswith("-") and action is None:
                count = math.inf
            elif action is not None and action.nargs in ("*", "+"):
                break  # it takes every word up to the end of the span
            elif action is not None and action.nargs != 0 and "=" not in word:
                next(rest, None)
            elif action is None:
                count += 1
        if count > room:
            bad.append(command)
    return bad


def _source_strings(root: Path) -> str:
    """Every string constant (error messages and docstrings, implicit concatenations joined) under ``root``."""
    return "\n".join(node.value for path in sorted(root.rglob("*.py"))
                     for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                     if isinstance(node, ast.Constant) and isinstance(node.value, str))


def test_every_bench_command_named_in_messages_and_readme_exists():
    parser = build_parser()
    wrong = ["bench reference build IMAGES_DIR --out F.npz", "bench referenc IMAGES", "bench cost C --precison fp32"]
    right = ["bench reference IMAGES_DIR --out F.npz [--extractor JSON]", "bench cost C --batch-size 8",
             "bench table diffact --format md|csv|latex", "bench run CONFIG --cfg-options a=1 b=2", "bench papers"]
    assert _unknown_commands(wrong + right, parser) == wrong
    texts = {"README.md": (REPO / "README.md").read_text(encoding="utf-8")}
    texts.update({f"{name}/": _source_strings(REPO / name) for name in ("bench", "methods", "datasets")})
    texts.update({str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in REPO.glob("configs/**/README.md")})
    found = {where: _bench_commands(text) for where, text in texts.items()}
    assert sum(map(len, found.values())) > 20, found
    assert {where: bad for where, commands in found.items() if (bad := _unknown_commands(commands, parser))} == {}


def test_a_user_error_from_a_dataloader_worker_prints_only_its_message():
    from bench.cli import user_message

    wrapped = ValueError("Caught ValueError in DataLoader worker process 2.\nOriginal Traceback (most recent call "
                         "last):\n  File \"reader.py\", line 9, in __getitem__\nValueError: bad value in /data/x.png")
    assert user_message(wrapped) == "bad value in /data/x.png\n  (raised in DataLoader worker process 2)"
    assert user_message(ValueError("plain message")) == "plain message"
