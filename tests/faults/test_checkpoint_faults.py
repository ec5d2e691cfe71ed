"""Faulty checkpoint files given to a run: each is refused naming the file, what was expected and the fix."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch

from fault_harness import expect_clear, run_cli, write_eval_config
from pickle_fixture import CreatesMarker


def _truncated(path: Path, good: Path) -> None:
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _zip_of_text(path: Path, good: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a checkpoint")


def _other_model(path: Path, good: Path) -> None:
    torch.save({"state_dict": {"fc.weight": torch.zeros(3, 3)}}, path)


def _tensor_only(path: Path, good: Path) -> None:
    torch.save(torch.zeros(3), path)


CASES = [  # (case, writer, tokens beyond the file name)
    ("empty file", lambda p, g: p.write_bytes(b""), []),
    ("truncated file", _truncated, []),
    ("text file", lambda p, g: p.write_text("hello\n"), []),
    ("zip without a checkpoint", _zip_of_text, []),
    ("jpeg bytes", lambda p, g: p.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100)), []),
    ("weights of another model", _other_model, ["fc.weight"]),
    ("a bare tensor", _tensor_only, []),
]


@pytest.mark.parametrize("case, writer, names", CASES, ids=[c[0] for c in CASES])
def test_bad_checkpoint_is_refused_naming_it(case, writer, names, tmp_path: Path, digits_checkpoint: Path):
    bad = tmp_path / "bad_checkpoint.pth"
    writer(bad, digits_checkpoint)
    config = write_eval_config(tmp_path, bad)
    expect_clear(case, run_cli("run", config, "--no-progress", "--no-wandb"), bad, *names)


def test_checkpoint_that_would_run_code_is_refused(tmp_path: Path, digits_checkpoint: Path):
    bad, marker = tmp_path / "evil.pth", tmp_path / "code_ran"
    torch.save({"state_dict": CreatesMarker(marker)}, bad)
    config = write_eval_config(tmp_path, bad)
    outcome = run_cli("run", config, "--no-progress", "--no-wandb")
    assert not marker.exists(), "unpickling the checkpoint ran code"
    expect_clear("checkpoint with a code-running global", outcome, bad, "system")


def test_checkpoint_path_is_a_folder(tmp_path: Path, digits_checkpoint: Path):
    folder = tmp_path / "ckpt_dir"
    folder.mkdir()
    config = write_eval_config(tmp_path, folder)
    expect_clear("checkpoint path is a folder", run_cli("run", config, "--no-progress", "--no-wandb"), folder)


def test_missing_checkpoint(tmp_path: Path, digits_checkpoint: Path):
    missing = tmp_path / "missing.pth"
    config = write_eval_config(tmp_path, missing)
    expect_clear("missing checkpoint", run_cli("run", config, "--no-progress", "--no-wandb"), missing)
