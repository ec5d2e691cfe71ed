"""Launcher detection, and world size 1 vs 2 under torchrun (gloo): identical metrics and records."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.config import config_hash, load_config
from bench.dist import detect, first_slurm_host
from bench.results import read_results
from bench.store import SampleStore
from helpers import REPO


def test_detect_single_process():
    assert detect({}).launcher == "none" and detect({}).world_size == 1


def test_detect_torchrun_variables():
    env = detect({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "h", "MASTER_PORT": "123"})
    assert (env.launcher, env.rank, env.world_size, env.local_rank, env.master_port) == ("torchrun", 3, 4, 1, "123")


def test_detect_slurm_variables_without_scontrol(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    env = detect({"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
                  "SLURM_JOB_NODELIST": "gpu[03-04]", "SLURM_JOB_ID": "4242"})
    assert (env.launcher, env.rank, env.world_size, env.local_rank) == ("slurm", 5, 8, 1)
    assert env.master_addr == "gpu03" and env.master_port == str(20000 + 4242)


def test_single_task_slurm_job_is_a_single_process():
    assert detect({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}).launcher == "none"


def test_first_slurm_host_plain_list(monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert first_slurm_host("nodeA,nodeB") == "nodeA"


def write_config(path: Path, work_dir: Path, checkpoint: Path) -> Path:
    path.write_text(
        f"_base_ = [{str(REPO / 'configs/demo/harness_digits.py')!r}]\n"
        "train = None\n"
        f"method = dict(checkpoint={str(checkpoint)!r})\n"
        f"run = dict(work_dir={str(work_dir)!r}, batch_size=32, flush_every=64, device='cpu')\n"
    )
    return path


def bench_cli(*args: str, cwd: Path, nproc: int = 1) -> subprocess.CompletedProcess:
    """``python -m bench.cli`` (under torchrun when nproc > 1), from ``cwd`` so no source tree shadows the install."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"] \
        if nproc > 1 else [sys.executable]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*launcher, "-m", "bench.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.dist
def test_world_size_one_and_two_give_identical_results(tmp_path: Path, digits_checkpoint: Path):
    runs = {}
    for nproc in (1, 2):
        config = write_config(tmp_path / f"ws{nproc}.py", tmp_path / f"ws{nproc}", digits_checkpoint)
        bench_cli("run", str(config), "--no-wandb", "--no-progress", cwd=tmp_path, nproc=nproc)
        cfg = load_config(config)
        run_dir = tmp_path / f"ws{nproc}"
        runs[nproc] = (read_results(run_dir), SampleStore(run_dir, config_hash(cfg)).load())
    (r1, s1), (r2, s2) = runs[1], runs[2]
    assert r1["metrics"] == r2["metrics"]
    assert r1["samples"]["effective"] == r2["samples"]["effective"] == 500  # no padding, no dropped tail
    assert s1["sample_id"] == s2["sample_id"]
    for column in ("index", "seed", "target", "logits"):
        assert torch.equal(s1[column], s2[column]), column
    ranks = {p.name.split("-")[1] for p in (tmp_path / "ws2" / "samples").glob("*.pt")}
    assert ranks == {"r0000", "r0001"}, "both ranks wrote their own shard"
    import json

    assert json.loads((tmp_path / "ws2" / "provenance.json").read_text())["world_size"] == 2
