"""Faults in a run folder and its sample store: corrupt or duplicate chunks, concurrent runs, SIGTERM, a failing disk.

Nothing already computed may be lost: each case counts the samples on disk (in the store, or a rescue folder the
error names) against the samples the method computed.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fault_harness import Outcome, expect_clear, record, run_cli, write_eval_config

NUM_TEST = 500  # the digits test split (sklearn digits: 1797 images, 500 held out by the reader)


def _stored_ids(run_dir: Path) -> list[str]:
    ids: list[str] = []
    for path in sorted((run_dir / "samples").glob("*.pt")):
        ids += torch.load(path, weights_only=True)["sample_id"]
    return ids


def _finished(tmp_path: Path, checkpoint: Path, *options: str) -> Path:
    config = write_eval_config(tmp_path, checkpoint, **{"run.flush_every": 64})
    outcome = run_cli("run", config, "--no-progress", "--no-wandb", *options)
    assert outcome.status == 0, outcome.message
    return config


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "results.json").read_text())["metrics"]


def test_corrupt_chunk_is_named_when_scoring(tmp_path: Path, digits_checkpoint: Path):
    _finished(tmp_path, digits_checkpoint)
    chunk = sorted((tmp_path / "run" / "samples").glob("*.pt"))[1]
    chunk.write_bytes(chunk.read_bytes()[:100])
    expect_clear("truncated chunk, bench score", run_cli("score", tmp_path / "run"), chunk.name, "--resume")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_resume_recomputes_a_corrupt_chunk(damage: str, tmp_path: Path, digits_checkpoint: Path):
    config = _finished(tmp_path, digits_checkpoint)
    reference = _metrics(tmp_path / "run")
    chunk = sorted((tmp_path / "run" / "samples").glob("*.pt"))[2]
    chunk.write_bytes({"truncated": chunk.read_bytes()[:200], "garbage": b"not a chunk" * 10, "empty": b""}[damage])
    outcome = run_cli("run", config, "--no-progress", "--no-wandb", "--resume")
    kind = record(f"{damage} chunk, --resume", outcome, refused=False)
    assert kind == "clear", outcome.message
    assert _metrics(tmp_path / "run") == reference
    assert sorted(_stored_ids(tmp_path / "run")) == sorted(set(_stored_ids(tmp_path / "run")))


@pytest.mark.parametrize("command", ["score", "resume"])
def test_duplicate_chunk_is_repaired_keeping_one_copy(command: str, tmp_path: Path, digits_checkpoint: Path):
    config = _finished(tmp_path, digits_checkpoint)
    reference = _metrics(tmp_path / "run")
    samples = tmp_path / "run" / "samples"
    first = sorted(samples.glob("*.pt"))[0]
    tag = first.name.split("-")[0]
    shutil.copy(first, samples / f"{tag}-r0000-dupl1cat-000000.pt")
    argv = ["score", tmp_path / "run"] if command == "score" else ["run", config, "--no-progress", "--no-wandb",
                                                                      "--resume"]
    outcome = run_cli(*argv)
    kind = record(f"duplicate chunk, {command}", outcome, refused=False)
    assert kind == "clear", outcome.message
    assert _metrics(tmp_path / "run") == reference
    assert len(_stored_ids(tmp_path / "run")) == NUM_TEST, "the duplicate copy must leave the store"
    kept = list((tmp_path / "run").rglob("*dupl1cat*"))
    assert kept, "the dropped copy is kept aside (quarantined), never deleted"


def test_chunk_of_another_config_is_named(tmp_path: Path, digits_checkpoint: Path):
    _finished(tmp_path, digits_checkpoint)
    chunk = sorted((tmp_path / "run" / "samples").glob("*.pt"))[0]
    foreign = chunk.with_name("0123456789abcdef" + chunk.name[16:])
    chunk.rename(foreign)
    expect_clear("chunk of another config", run_cli("score", tmp_path / "run"), foreign.name)


def test_rerun_without_resume_is_refused(tmp_path: Path, digits_checkpoint: Path):
    config = _finished(tmp_path, digits_checkpoint)
    expect_clear("rerun into a finished folder", run_cli("run", config, "--no-progress", "--no-wandb"),
                 tmp_path / "run", "--resume")


def test_work_dir_that_is_a_file(tmp_path: Path, digits_checkpoint: Path):
    config = write_eval_config(tmp_path, digits_checkpoint)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    outcome = run_cli("run", config, "--no-progress", "--no-wandb", "--work-dir", blocker)
    expect_clear("work dir is a file", outcome, blocker)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_results_folder(tmp_path: Path, digits_checkpoint: Path):
    config = write_eval_config(tmp_path, digits_checkpoint)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        outcome = run_cli("run", config, "--no-progress", "--no-wandb", "--work-dir", locked / "run")
    finally:
        locked.chmod(0o700)
    expect_clear("read-only results folder", outcome, locked)


def test_disk_full_mid_run_loses_no_sample(tmp_path: Path, digits_checkpoint: Path, monkeypatch):
    """The third chunk write fails with ENOSPC: every computed sample is in the store or the named rescue folder."""
    import bench.io

    monkeypatch.setenv("BENCH_RESCUE_DIR", str(tmp_path / "rescue"))
    config = write_eval_config(tmp_path, digits_checkpoint, **{"run.flush_every": 64, "run.batch_size": 32})
    real_write, calls = bench.io.atomic_write_bytes, {"n": 0}

    def failing(path, data):  # noqa: ANN001, ANN202
        if "/samples/" in str(path) and str(path).endswith(".pt"):
            calls["n"] += 1
            if calls["n"] >= 3:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write(path, data)

    monkeypatch.setattr(bench.io, "atomic_write_bytes", failing)
    outcome = run_cli("run", config, "--no-progress", "--no-wandb")
    monkeypatch.setattr(bench.io, "atomic_write_bytes", real_write)
    stored = set(_stored_ids(tmp_path / "run"))
    rescued: set[str] = set()
    for path in (tmp_path / "rescue").rglob("*.pt") if (tmp_path / "rescue").exists() else []:
        rescued |= set(torch.load(path, weights_only=True)["sample_id"])
    computed = 128 + 64  # two chunks written, the third (64 samples) failed; prediction stops at the failure
    lost = len(stored | rescued) < computed
    outcome.notes.update(stored=len(stored), rescued=len(rescued))
    kind = record("disk full mid-run", outcome, (str(tmp_path / "rescue"), "--resume"), lost=lost)
    assert kind == "clear", f"{kind}: stored {len(stored)}, rescued {len(rescued)}\n{outcome.message}"


SLOW_RUN = """
import sys, time
from pathlib import Path
from bench.methods.classifier import TimmClassifier
predict = TimmClassifier.predict
def slow(self, batch, seeds):
    time.sleep(float(sys.argv[2]))
    out = predict(self, batch, seeds)
    with open(sys.argv[3], "a") as log:  # one line per predicted batch: what a signal must not lose
        log.write(f"{len(batch['sample_id'])}\\n")
    return out
TimmClassifier.predict = slow
from bench.cli import main
sys.exit(main(["run", sys.argv[1], "--no-progress", "--no-wandb", *sys.argv[4:]]))
"""


def _predicted(log: Path) -> int:
    return sum(int(line) for line in log.read_text().split()) if log.exists() else 0


def _start_slow(config: Path, delay: float, log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", SLOW_RUN, str(config), str(delay), str(log), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def _wait_for(predicate, timeout: float = 120.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the background run did not get there")
        time.sleep(0.1)


def test_second_run_into_a_busy_folder_is_refused(tmp_path: Path, digits_checkpoint: Path):
    config = write_eval_config(tmp_path, digits_checkpoint, **{"run.flush_every": 32, "run.batch_size": 32})
    first = _start_slow(config, 0.3, tmp_path / "predicted.log")
    try:
        _wait_for(lambda: any((tmp_path / "run" / "samples").glob("*.pt")))
        outcome = run_cli("run", config, "--no-progress", "--no-wandb", "--resume")
    finally:
        out, err = first.communicate(timeout=300)
    record_outcome = Outcome(outcome.status, outcome.stdout, outcome.stderr, outcome.escaped)
    ids = _stored_ids(tmp_path / "run")
    corrupt = len(ids) != len(set(ids))
    kind = record("second run into a busy folder", record_outcome, (str(tmp_path / "run"),), lost=corrupt)
    assert first.returncode == 0, err
    assert kind == "clear", outcome.message
    assert sorted(ids) == sorted(set(ids)) and len(ids) == NUM_TEST


def test_sigterm_flushes_and_resume_matches(tmp_path: Path, digits_checkpoint: Path):
    config = write_eval_config(tmp_path, digits_checkpoint, **{"run.flush_every": 1000, "run.batch_size": 16})
    log = tmp_path / "predicted.log"
    run = _start_slow(config, 0.05, log)
    _wait_for(lambda: _predicted(log) >= 80)  # five batches computed, none flushed (flush_every 1000)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)
    stored, predicted = len(_stored_ids(tmp_path / "run")), _predicted(log)
    outcome = Outcome(run.returncode, out, err)
    outcome.notes.update(stored_after_sigterm=stored, predicted=predicted)
    kind = record("SIGTERM mid-run", outcome, ("SIGTERM", "--resume"), lost=stored < predicted)
    assert kind == "clear", f"{kind}: stored {stored} of {predicted} predicted\n{err[-2000:]}"
    resumed = run_cli("run", config, "--no-progress", "--no-wandb", "--resume")
    assert resumed.status == 0, resumed.message
    clean = tmp_path / "clean"
    clean.mkdir()
    reference = write_eval_config(clean, digits_checkpoint)
    assert run_cli("run", reference, "--no-progress", "--no-wandb").status == 0
    # the interrupted run predicted in batches of 16, the clean one in its default batches: convolutions of other batch
    # shapes may round float32 logits differently (~1e-7 relative), which moves the metrics in their 9th digit
    resumed_metrics, clean_metrics = _metrics(tmp_path / "run"), _metrics(clean / "run")
    assert resumed_metrics == pytest.approx(clean_metrics, rel=1e-5)
