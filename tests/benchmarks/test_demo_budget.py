"""The quick demo profile's time budget: ``bench demo`` from an empty results folder in under 5 minutes on 2 cores.

Runs the quick profile group by group in one process (harness first, shared pieces trained once, as ``bench demo``
does) and records each group's wall time in ``benchmark.extra_info``. Wall seconds depend on the machine and its
load, so the budget is asserted as ratios against a peer timed in the same process (on one torch thread, as
calibrated): a fixed reference workload (40 AdamW steps of a small CNN on a 64 x 1 x 16 x 16 batch, what the demos
mostly do), timed before and after the profile, best of 3 each.

Derivation: the budgets are wall seconds on an idle 2-core machine (``BUDGET_S``, 300 s for the whole). The
reference, timed on one torch thread, takes ``REFERENCE_IDLE_S`` = 0.85 s there: timed by this benchmark on the idle
2-core development machine on 2026-12-06, 0.832 s and 0.897 s (it was 1.01 s of single-thread CPU time when the
budgets were first set; with torch's two threads it ran in 0.47 s, which is why it is timed on one). So a group
meets its budget when ``t_group / t_reference <= BUDGET_S[group] / REFERENCE_IDLE_S`` (both sides in reference
units; a machine twice as slow doubles both times). Each group may exceed its own share by ``GROUP_SLACK`` (a 10 s
demo is noisy); the whole profile may not exceed 300 units.

``BENCH_DEMO_ONLY="harness vssd"`` times only those groups (their shared pieces are then trained inside them), and
the whole-profile check becomes the sum of their budgets.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.demo import demo_configs, group_configs, run_group

#: wall seconds per group on an idle 2-core machine (issue 24's demo contract), and for the whole quick profile
BUDGET_S = {"harness": 12, "consistency_calibration": 10, "vssd": 20, "trident": 15, "diffact": 20,
            "difftriplet": 25, "adaptive_momentum_sampler": 35, "compress_guidance": 40, "idc": 30,
            "two_in_one_kd": 40, "amg": 30, "bright_ending": 40, "das": 55, "fusionsam": 20,
            "collage_prompting": 10, "dpms_ant": 15, "vdm_memorization": 25, "confiner": 29}
TOTAL_S = 300
REFERENCE_IDLE_S = 0.85  # the reference workload on an idle 2-core machine (module docstring)
GROUP_SLACK = 1.25


def reference_workload(steps: int = 40) -> None:
    """A fixed small training job: the peer the demo groups are timed against."""
    gen = torch.Generator().manual_seed(0)
    images, targets = torch.rand(64, 1, 16, 16, generator=gen), torch.randint(0, 10, (64,), generator=gen)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                          nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), targets).backward()
        optimizer.step()


def time_reference(repeats: int = 3) -> float:
    """Best wall time of the reference workload on ONE torch thread, as it was calibrated (load only ever slows a
    repeat down). With the default two threads it ran in 0.47 s instead of 0.95 s on the idle machine, which made
    every group look twice its real cost against ``REFERENCE_IDLE_S``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference_workload(steps=2)  # warm-up: kernels and allocator
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            reference_workload()
            times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return min(times)


@pytest.mark.benchmark(group="demo-budget")
def test_quick_profile_fits_its_budget(benchmark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "results"))
    monkeypatch.setenv("BENCH_PROGRESS", "0")
    only = os.environ.get("BENCH_DEMO_ONLY", "").split() or None
    grouped = group_configs(demo_configs(only))
    unbudgeted = [group for group in grouped if group not in BUDGET_S]
    assert not unbudgeted, f"demo groups without a budget: {unbudgeted}; add their idle 2-core seconds to BUDGET_S"

    before = time_reference()
    seconds: dict[str, float] = {}
    failures: dict[str, str] = {}

    def profile() -> None:
        for group, paths in grouped.items():
            outcome = run_group(group, paths, wandb_mode="disabled", progress=False)
            seconds[group] = outcome.elapsed_s
            if outcome.error:
                failures[group] = f"{outcome.failed_config}: {outcome.error}"

    benchmark.pedantic(profile, rounds=1, iterations=1)  # from an empty results folder: one round is the point
    reference = min(before, time_reference())

    ratios = {group: t / reference for group, t in seconds.items()}
    allowed = {group: BUDGET_S[group] / REFERENCE_IDLE_S for group in seconds}
    total_allowed = (TOTAL_S if only is None else sum(BUDGET_S[g] for g in seconds)) / REFERENCE_IDLE_S
    total = sum(ratios.values())
    benchmark.extra_info.update(
        seconds={g: round(t, 2) for g, t in seconds.items()}, total_s=round(sum(seconds.values()), 2),
        reference_s=round(reference, 4), ratios={g: round(r, 2) for g, r in ratios.items()},
        allowed_ratios=allowed, total_ratio=round(total, 2), total_allowed_ratio=total_allowed,
        threads=torch.get_num_threads(), only=only, failures=failures)
    print(f"\nreference workload {reference:.3f} s (idle 2-core: {REFERENCE_IDLE_S} s); group: s, reference units "
          "(budget)")
    for group, t in seconds.items():
        print(f"  {group:28s} {t:7.1f} s  {ratios[group]:7.1f} ({allowed[group]:.0f})")
    print(f"  {'whole profile':28s} {sum(seconds.values()):7.1f} s  {total:7.1f} ({total_allowed:.0f})")

    assert not failures, f"demo groups failed: {failures}"
    over = {g: f"{ratios[g]:.1f} > {GROUP_SLACK} x {allowed[g]:.0f}" for g in ratios
            if ratios[g] > GROUP_SLACK * allowed[g]}
    assert not over, f"groups over their budget (reference units): {over}"
    assert total <= total_allowed, f"the quick profile takes {total:.1f} reference units, budget {total_allowed:.0f}"
