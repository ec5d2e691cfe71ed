"""Process-group set-up for plain ``python``, ``torchrun`` and Slurm, on CPU (gloo) or GPU (nccl).

mmengine's ``init_dist`` always calls ``torch.cuda.set_device``, which fails on CPU-only machines, so the
launcher detection lives here; rank queries and collectives come from ``mmengine.dist``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class DistEnv:
    launcher: str  # none | torchrun | slurm
    rank: int
    world_size: int
    local_rank: int
    master_addr: str | None = None
    master_port: str | None = None


def detect(environ: dict[str, str] | None = None) -> DistEnv:
    """Read the launcher's variables: torchrun's RANK/WORLD_SIZE first, then Slurm's SLURM_* (ntasks > 1)."""
    env = dict(os.environ if environ is None else environ)
    if "RANK" in env and "WORLD_SIZE" in env:
        return DistEnv("torchrun", int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)),
                       env.get("MASTER_ADDR"), env.get("MASTER_PORT"))
    if int(env.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in env:
        nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST", "")
        addr = env.get("MASTER_ADDR") or first_slurm_host(nodelist)
        # A port derived from the job id keeps two jobs on one node apart.
        port = env.get("MASTER_PORT") or str(20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000)
        return DistEnv("slurm", int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]),
                       int(env.get("SLURM_LOCALID", 0)), addr, port)
    return DistEnv("none", 0, 1, 0)


def first_slurm_host(nodelist: str) -> str:
    """First host of a Slurm node list: ``scontrol show hostnames`` where present, else a plain parse."""
    if not nodelist:
        raise RuntimeError("Slurm task without SLURM_JOB_NODELIST: cannot find the master host; set MASTER_ADDR.")
    if shutil.which("scontrol"):
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=True)
        return out.stdout.split()[0]
    head = nodelist.split(",")[0]
    if "[" in head:  # node[03-05] -> node03
        prefix, rest = head.split("[", 1)
        return prefix + rest.split("-")[0].split(",")[0].rstrip("]")
    return head


def init(device: str = "auto") -> DistEnv:
    """Join the process group when launched with several processes; a no-op for a single process."""
    env = detect()
    if env.world_size == 1 or torch_dist.is_initialized():
        return env
    os.environ.update(RANK=str(env.rank), WORLD_SIZE=str(env.world_size), LOCAL_RANK=str(env.local_rank))
    if env.master_addr:
        os.environ["MASTER_ADDR"] = env.master_addr
    if env.master_port:
        os.environ["MASTER_PORT"] = env.master_port
    use_cuda = device != "cpu" and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(env.local_rank % torch.cuda.device_count())
    torch_dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return env


def shutdown() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()
