"""Run ``bench`` in-process on a faulty input and classify what the user saw.

Every fault case ends in one of five outcomes (issue 25's counts):

- ``clear``: the command refused with exit status != 0, printed one ``bench <command>: error:`` message, no
  traceback, and the message names every token the case lists (the file or key at fault, what was expected);
- ``unclear``: refused without a traceback, but the message misses a token the user needs;
- ``traceback``: an exception escaped the CLI, or a traceback was printed;
- ``silent``: exit status 0 where the input must be refused (or a wrong result written as complete);
- ``lost``: samples computed before the fault are gone afterwards (checked by the case itself).

``record`` appends each case's outcome to the session's report (``$BENCH_FAULT_REPORT``, written by the
conftest at the end), so the counts can be compared before and after a change.
"""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUTCOMES = ("clear", "unclear", "traceback", "silent", "lost")
REPORT: list[dict[str, Any]] = []


@dataclass
class Outcome:
    """What one CLI call did: its exit status, output and any exception that escaped ``main``."""

    status: int | None
    stdout: str
    stderr: str
    escaped: BaseException | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.stderr + (repr(self.escaped) if self.escaped is not None else "")


def run_cli(*argv: str | Path) -> Outcome:
    """``bench <argv>`` in this process; stdout and stderr captured, an escaping exception kept."""
    from bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    status: int | None = None
    escaped: BaseException | None = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as exit_:  # argparse refusals
            status = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException as error:  # noqa: BLE001 - the point is to see what escapes
            escaped = error
    return Outcome(status, out.getvalue(), err.getvalue(), escaped)


def classify(outcome: Outcome, names: tuple[str, ...] = (), *, refused: bool = True, lost: bool = False,
             silent: bool = False) -> str:
    """The outcome's class (see the module docstring); ``names`` are the tokens a clear message contains;
    ``lost`` and ``silent`` are what the case found on disk (samples gone; a wrong result, code that ran)."""
    if lost:
        return "lost"
    if silent:
        return "silent"
    if outcome.escaped is not None or "Traceback (most recent call last)" in outcome.stderr:
        return "traceback"
    if refused and outcome.status == 0:
        return "silent"
    if not refused:
        return "clear" if outcome.status == 0 else "unclear"
    if not all(str(name) in outcome.stderr for name in names):
        return "unclear"
    return "clear"


def record(case: str, outcome: Outcome, names: tuple[str, ...] = (), *, refused: bool = True,
           lost: bool = False, silent: bool = False) -> str:
    """Classify, remember the case for the session report, and return the class."""
    kind = classify(outcome, names, refused=refused, lost=lost, silent=silent)
    REPORT.append({"case": case, "outcome": kind, "status": outcome.status,
                   "message": outcome.message.strip()[-600:], "names": [str(n) for n in names], **outcome.notes})
    return kind


def expect_clear(case: str, outcome: Outcome, *names: str | Path) -> None:
    """Assert the case is ``clear``; the failure shows the whole message."""
    kind = record(case, outcome, tuple(str(n) for n in names))
    assert kind == "clear", f"{case}: {kind} (status {outcome.status})\n{outcome.message}"


def call_like_cli(function: Any, *args: Any, **kwargs: Any) -> Outcome:
    """Call ``function`` and report its errors as the CLI does (a user error's message, anything else escapes):
    for faults met below a command (a reader's file, a checkpoint) without writing a config for each."""
    from bench.errors import USER_ERRORS

    try:
        function(*args, **kwargs)
    except USER_ERRORS as error:
        return Outcome(2, "", f"bench: error: {error}\n")
    except Exception as error:  # noqa: BLE001 - what escapes is the finding
        return Outcome(None, "", "", escaped=error)
    return Outcome(0, "", "")


def write_eval_config(folder: Path, checkpoint: Path, **options: Any) -> Path:
    """The digits demo without its train stage, evaluating ``checkpoint`` into ``folder/run``, as a config file."""
    from bench.config import config_text
    from helpers import eval_config

    cfg = eval_config(folder / "run", checkpoint, **options)
    path = folder / "eval_digits.py"
    path.write_text(config_text(cfg))
    return path
