"""Robustness metrics from the robustness task's per-sample columns (see ``bench.tasks.robustness.task``)."""
from __future__ import annotations

from collections.abc import Collection

from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns

ADV_PREFIX = "adv_prediction."
LINF_PREFIX = "linf."


def attack_names(outputs: Columns) -> list[str]:
    """The attacks whose predictions are stored, in column order."""
    return [name[len(ADV_PREFIX):] for name in outputs if name.startswith(ADV_PREFIX)]


@METRICS.register_module()
class RobustAccuracy(Metric):
    """Clean accuracy and, per attack, robust accuracy: a sample counts only if its clean **and** adversarial
    predictions are both correct (IDC's ``sample_to_eval``); the denominator is every stored sample, none dropped.
    Also per attack: the success rate among clean-correct samples and the largest L∞ perturbation applied."""

    def columns(self, available: Collection[str]) -> set[str]:
        """``target``, ``clean_prediction`` and every attack's prediction and L∞ columns that are stored."""
        return {"target", "clean_prediction"} | {n for n in available if n.startswith((ADV_PREFIX, LINF_PREFIX))}

    def check(self, outputs: Columns) -> None:
        missing = [c for c in ("target", "clean_prediction") if c not in outputs]
        if missing or not attack_names(outputs):
            raise KeyError(f"RobustAccuracy needs 'target', 'clean_prediction' and '{ADV_PREFIX}<attack>' columns; "
                           f"got {sorted(outputs)}")

    def compute(self, outputs: Columns) -> dict[str, float]:
        target = outputs["target"].long()
        clean = outputs["clean_prediction"].long() == target
        values = {"clean accuracy": float(clean.double().mean())}
        for name in attack_names(outputs):
            adversarial = outputs[ADV_PREFIX + name].long() == target
            robust = clean & adversarial
            values[f"robust accuracy ({name})"] = float(robust.double().mean())
            values[f"attack success rate ({name})"] = float((clean & ~adversarial).sum() / clean.sum().clamp(min=1))
            if LINF_PREFIX + name in outputs:
                values[f"max linf ({name})"] = float(outputs[LINF_PREFIX + name].max())
        return values
