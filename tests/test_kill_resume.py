"""A real SIGKILL in the middle of ``bench run``, then ``--resume``: same results, no finished sample redone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.config import config_hash, load_config
from bench.results import read_results
from bench.store import SampleStore
from test_dist import bench_cli, write_config


@pytest.mark.slow
def test_sigkill_then_resume(tmp_path: Path, digits_checkpoint: Path):
    config = write_config(tmp_path / "kill.py", tmp_path / "killed", digits_checkpoint)
    text = config.read_text().replace("batch_size=32, flush_every=64", "batch_size=1, flush_every=20")
    config.write_text(text)
    cfg = load_config(config)
    store = SampleStore(tmp_path / "killed", config_hash(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", str(config), "--no-wandb", "--no-progress"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(store.chunk_paths()) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in store.chunk_paths()}
    done = store.finished_ids()
    assert 0 < len(done) < 500, "the kill should land mid-run"

    bench_cli("run", str(config), "--no-wandb", "--no-progress", "--resume", cwd=tmp_path)
    assert {p: t for p, t in before.items()} == {p.name: p.stat().st_mtime_ns for p in store.chunk_paths()
                                                 if p.name in before}, "finished chunks were rewritten"
    clean = write_config(tmp_path / "clean.py", tmp_path / "clean", digits_checkpoint)
    clean.write_text(clean.read_text().replace("batch_size=32, flush_every=64", "batch_size=1, flush_every=20"))
    bench_cli("run", str(clean), "--no-wandb", "--no-progress", cwd=tmp_path)
    assert read_results(tmp_path / "killed")["metrics"] == read_results(tmp_path / "clean")["metrics"]
    resumed = store.load()
    clean_store = SampleStore(tmp_path / "clean", config_hash(load_config(clean)))
    assert torch.equal(resumed["logits"], clean_store.load()["logits"])
