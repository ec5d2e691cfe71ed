"""Logits a classifier run already stored, read back as a dataset: the logit cache of post-hoc calibration.

``bench run <classifier config>`` stores every sample's logits once (per split); calibrators then fit and
evaluate from the cache in seconds. A calibration config declares the classifier run as an upstream
(``product="logits"``) and passes ``run_dir="upstream:<name>"``: the runner runs or finds the classifier run whose
config hash matches, so a changed checkpoint, preprocessing or split can never be read by mistake.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from bench.data import BenchDataset
from bench.registry import DATASETS


@DATASETS.register_module()
class CachedLogits(BenchDataset):
    """Items ``{"logits": [C], "target": int64}`` of a finished classifier run; sample ids are the classifier's.

    Args:
        run_dir: the classifier's run directory (in a config: ``"upstream:<name>"`` of a ``logits`` upstream).
    """

    obtain = ("declare the classifier config as an upstream with product 'logits' and pass run_dir='upstream:<name>' "
              "(the runner runs it first), or run it with `bench run <classifier config>`")

    def __init__(self, run_dir: str) -> None:
        from bench.io import read_json
        from bench.results import PROVENANCE_FILE, RESULTS_FILE, read_results
        from bench.store import SampleStore
        from bench.upstream import require_path

        self.run_dir = Path(require_path(run_dir, "CachedLogits.run_dir"))
        self.layout = (f"{self.run_dir}/\n  {RESULTS_FILE}   (status: complete)\n  samples/*.pt   "
                       "(columns logits [N, C], target [N])")
        if not (self.run_dir / RESULTS_FILE).is_file():
            raise self.layout_error(self.run_dir, "no finished classifier run")
        results = read_results(self.run_dir)
        if results["status"] != "complete":
            raise self.layout_error(self.run_dir, f"the classifier run is {results['status']!r} (run with --limit); "
                                                  "calibration needs every sample",
                                    "finish it with `bench run <its config.py> --resume` and no run.limit")
        outputs = SampleStore(self.run_dir, results["config_sha256"]).load()
        if "logits" not in outputs:
            raise self.layout_error(self.run_dir, f"the run stored {sorted(outputs)}, not logits",
                                    "point the upstream at a classifier config")
        self.logits: torch.Tensor = outputs["logits"]
        self.targets: torch.Tensor = outputs["target"].long()
        classes = self.logits.shape[1]
        outside = ((self.targets < 0) | (self.targets >= classes)).nonzero().flatten()
        if len(outside):
            raise self.layout_error(self.run_dir, (
                f"{len(outside)} stored targets are not class ids 0..{classes - 1} (the logits' {classes} columns), "
                f"first {int(self.targets[outside[0]])} for sample {outputs['sample_id'][int(outside[0])]!r}: the "
                "classifier's dataset labels do not match its classes"),
                "check the classifier config's dataset and num_classes, then run it again")
        self.ids: list[str] = list(outputs["sample_id"])
        self.smoke, self.smoke_reason = bool(results["smoke"]), results["smoke_reason"]
        self.run_id, self.source_dataset = results["run_id"], results["dataset"]
        prov = self.run_dir / PROVENANCE_FILE
        self.split = (read_json(prov).get("dataset") or {}).get("split") if prov.is_file() else None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"logits": self.logits[index], "target": self.targets[index]}

    def sample_id(self, index: int) -> str:
        return self.ids[index]

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.logits.contiguous().numpy().tobytes())
        digest.update(self.targets.numpy().tobytes())
        digest.update("\0".join(self.ids).encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "split": self.split, "run_id": self.run_id, "run_dir": str(self.run_dir),
                "classifier_dataset": self.source_dataset, "num_classes": int(self.logits.shape[1]),
                "smoke": self.smoke}
