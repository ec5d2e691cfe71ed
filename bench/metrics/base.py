"""Metric interface: named values from the full table of per-sample outputs."""
from __future__ import annotations

from collections.abc import Collection

from bench.store import Columns


class Metric:
    """Reduce every sample's stored outputs to named numbers.

    Unlike mmengine's ``BaseMetric`` (which collects per-process results in memory and gathers them), the
    harness collects through the on-disk sample store, so a metric only needs ``compute``: rank 0 calls it
    once on all samples, sorted by dataset index, whatever the world size was. One unit per name: ``accuracy``
    (and every ``*accuracy*``) is a fraction in [0, 1]; a paper's percentage is its config's ``scale=100``.
    """

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()  # columns compute reads when they are stored (``probs`` instead of ``logits``)

    def columns(self, available: Collection[str]) -> set[str]:
        """The stored columns ``compute`` reads, so scoring loads only those: ``required`` plus the ``optional``
        ones that are stored; a metric that declares neither reads everything."""
        if not self.required and not self.optional:
            return set(available)
        return set(self.required) | {name for name in self.optional if name in available}

    def __init__(self, prefix: str = "") -> None:
        """``prefix`` goes before every name the metric returns (as mmengine's ``BaseMetric(prefix=...)``); the task
        applies it, so ``compute`` returns bare names (``"digits_"`` reports ``FID`` as ``digits_FID``)."""
        self.prefix = prefix

    def compute(self, outputs: Columns) -> dict[str, float]:
        raise NotImplementedError

    def check(self, outputs: Columns) -> None:
        missing = [name for name in self.required if name not in outputs]
        if missing:
            raise KeyError(f"{type(self).__name__} needs output column(s) {missing}; the method produced "
                           f"{sorted(outputs)}")
