"""The fault suite's report: every case's outcome, written to ``$BENCH_FAULT_REPORT`` (JSON) when set."""
from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator

import pytest

from fault_harness import OUTCOMES, REPORT


@pytest.fixture(scope="session", autouse=True)
def _fault_report() -> Iterator[None]:
    yield
    target = os.environ.get("BENCH_FAULT_REPORT")
    if target and REPORT:
        counts = Counter(entry["outcome"] for entry in REPORT)
        with open(target, "w", encoding="utf-8") as handle:
            json.dump({"counts": {k: counts.get(k, 0) for k in OUTCOMES}, "cases": REPORT}, handle, indent=2)
