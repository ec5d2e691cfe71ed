"""Start-up of the light commands (``bench --help``, ``papers``, ``table diffact``, ``leaderboard``) against the
interpreter's own start-up (``python -c pass``), each a fresh process, rounds interleaved.

Target: each command within 1.5 s on an idle 2-core machine. The interpreter starts in 20-40 ms there; taking the
slow end, 1.5 s / 40 ms = 37.5 interpreter start-ups, so a command slower than 37.5x ``python -c pass`` misses the
budget wherever interpreter start-up is at most 40 ms (a machine slower at both scales both). The ratio needs no
absolute time, so it holds on a loaded machine too (load slows every contender of a round alike). Before the lazy
imports ``bench papers`` took 44-48 s (mmengine reading 277 configs, pandas, torch through the registries): ~300x.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TARGET_RATIO = 1.5 / 0.040  # the 1.5 s budget over the slow end of interpreter start-up
COMMANDS = {"--help": ["--help"], "papers": ["papers"], "table diffact": ["table", "diffact"],
            "leaderboard": ["leaderboard"]}


def bench_command() -> list[str]:
    """The ``bench`` console script next to this interpreter (what a user runs), else ``python -m bench.cli``."""
    script = Path(sys.executable).with_name("bench")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "bench.cli"]


def run(argv: list[str], cwd: Path) -> None:
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.benchmark(group="cli-startup")
def test_light_commands_start_within_budget(interleaved, benchmark, tmp_path: Path):
    """Every light command's best wall time over ``python -c pass``'s best, in the same rounds."""
    contenders = {"python -c pass": lambda: run([sys.executable, "-c", "pass"], tmp_path)}
    for name, args in COMMANDS.items():
        contenders[f"bench {name}"] = lambda args=args: run(bench_command() + args, tmp_path)
    best = interleaved(contenders)
    interpreter = best.pop("python -c pass")
    ratios = {name: seconds / interpreter for name, seconds in best.items()}
    benchmark.extra_info.update(interpreter_s=round(interpreter, 4), target_ratio=TARGET_RATIO,
                                **{f"{name} s": round(s, 4) for name, s in best.items()},
                                **{f"{name} ratio": round(r, 2) for name, r in ratios.items()})
    print(f"\npython -c pass {interpreter:.3f} s; " + "; ".join(
        f"{name} {best[name]:.3f} s = {ratios[name]:.1f}x" for name in best) + f" (target <= {TARGET_RATIO:.1f}x)")
    slow = {name: round(r, 1) for name, r in ratios.items() if r > TARGET_RATIO}
    assert not slow, f"start-up over {TARGET_RATIO:.1f}x the interpreter's: {slow}"
