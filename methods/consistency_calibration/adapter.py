"""The method adapter: a calibrator fitted on cached validation logits, applied batch by batch to test logits."""
from __future__ import annotations

from typing import Any

import torch

from bench.finite import require_finite
from bench.method import Method
from bench.methods.consistency_calibration.calibrator import CALIBRATORS, Calibrator
from bench.registry import DATASETS, METHODS
from bench.seeding import sample_seed
from bench.store import Columns


@METHODS.register_module()
class PostHocCalibration(Method):
    """Fit ``calibrator`` on ``fit_on`` (usually ``CachedLogits`` of the val split) in ``setup``, then
    calibrate each batch of the evaluated dataset's ``logits``.

    Fitting refuses validation logits holding NaN/Inf (naming the samples); test logits that do give NaN outputs
    for those samples, which the run's non-finite check then refuses or flags (``run.nonfinite``).

    Validation samples get the harness's per-sample seeds from the run seed and their ids, like test samples,
    so Monte-Carlo calibrators are reproducible from ``run.seed`` alone. A run is smoke when the classifier
    runs it reads were smoke.
    """

    def __init__(self, calibrator: dict[str, Any], fit_on: dict[str, Any]) -> None:
        self.calibrator_cfg, self.fit_on_cfg = dict(calibrator), dict(fit_on)
        self.calibrator: Calibrator = CALIBRATORS.build(dict(calibrator))
        self.device = torch.device("cpu")
        self.fit_facts: dict[str, Any] = {}

    def setup(self, device: torch.device, seed: int = 0) -> None:
        self.device = device
        fit_set = DATASETS.build(dict(self.fit_on_cfg))
        if not (hasattr(fit_set, "logits") and hasattr(fit_set, "targets")):
            raise TypeError("fit_on must be a logits dataset (CachedLogits or LogitsFile), "
                            f"got {type(fit_set).__name__}")
        logits, targets = fit_set.logits.to(device), fit_set.targets.to(device)
        if not bool(torch.isfinite(logits).all()):  # a calibrator fitted on NaN logits gives a meaningless fit
            ids = [fit_set.sample_id(i) for i in range(len(fit_set))]
            require_finite({"sample_id": ids, "logits": logits.cpu()}, "logits",
                           f"{type(self.calibrator).__name__} fit on {self.fit_on_cfg.get('type')} (fit_on)")
        seeds = torch.tensor([sample_seed(seed, fit_set.sample_id(i)) for i in range(len(fit_set))], dtype=torch.int64)
        self.calibrator.fit(logits, targets, seeds.to(device))
        self.smoke = bool(getattr(fit_set, "smoke", False))
        self.smoke_reason = getattr(fit_set, "smoke_reason", None)
        self.fit_facts = {**fit_set.describe(), "fingerprint": fit_set.fingerprint()}

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        logits = batch["logits"].to(self.device)
        calibrated = self.calibrator.calibrate(logits, seeds.to(self.device))
        return {self.calibrator.output: calibrated.float(), "target": batch["target"]}

    def fitted_values(self) -> dict[str, float]:
        return self.calibrator.fitted_values()

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "calibrator": self.calibrator.describe(), "fitted_on": self.fit_facts}
