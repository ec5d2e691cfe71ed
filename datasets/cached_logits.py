"""Logits a classifier run already stored, read back as a dataset: the logit cache of post-hoc calibration.

``bench run <classifier config>`` stores every sample's logits once (per split); calibrators then fit and
evaluate from the cache in seconds. The cache is the classifier run's own sample store, found by the
classifier config's hash, so a changed checkpoint, preprocessing or split can never be read by mistake.
"""
from __future__ import annotations

import hashlib
from typing import Any

import torch

from bench.data import BenchDataset, DatasetLayoutError
from bench.registry import DATASETS


@DATASETS.register_module()
class CachedLogits(BenchDataset):
    """Items ``{"logits": [C], "target": int64}`` of a finished classifier run; sample ids are the classifier's.

    Args:
        source: the classifier config (a path, or a name under ``configs/``).
        split: overrides the classifier config's ``dataset.split`` (e.g. "val" to fit, "test" to evaluate).
        cfg_options: further overrides of the classifier config, as ``--cfg-options`` would give.
    """

    obtain = "run the classifier first: the error message gives the exact `bench run` command"

    def __init__(self, source: str, split: str | None = None, cfg_options: dict[str, Any] | None = None) -> None:
        from bench.config import config_hash, load_config
        from bench.results import RESULTS_FILE, read_results, run_dir_for
        from bench.store import SampleStore

        options = dict(cfg_options or {})
        if split is not None:
            options["dataset.split"] = split
        cfg = load_config(source, options)
        self.source, self.split = source, split
        self.chash = config_hash(cfg)
        self.run_dir = run_dir_for(cfg, self.chash)
        command = f"bench run {source}" + "".join(f" --cfg-options {k}={v}" for k, v in options.items())
        self.layout = (f"{self.run_dir}/\n  {RESULTS_FILE}   (status: complete)\n  samples/*.pt   "
                       "(columns logits [N, C], target [N])")
        if not (self.run_dir / RESULTS_FILE).is_file():
            raise DatasetLayoutError("CachedLogits", self.run_dir, f"no finished classifier run of {source!r}"
                                     f"{f' (split {split!r})' if split else ''}", self.layout,
                                     f"create the cache with `{command}`")
        results = read_results(self.run_dir)
        if results["status"] != "complete":
            raise DatasetLayoutError("CachedLogits", self.run_dir, f"the classifier run is {results['status']!r} "
                                     "(run with --limit); calibration needs every sample", self.layout,
                                     f"finish it with `{command} --resume` and no run.limit")
        outputs = SampleStore(self.run_dir, self.chash).load()
        if "logits" not in outputs:
            raise DatasetLayoutError("CachedLogits", self.run_dir, f"the run stored {sorted(outputs)}, not logits",
                                     self.layout, "point `source` at a classifier config")
        self.logits: torch.Tensor = outputs["logits"]
        self.targets: torch.Tensor = outputs["target"].long()
        self.ids: list[str] = list(outputs["sample_id"])
        self.smoke, self.smoke_reason = bool(results["smoke"]), results["smoke_reason"]
        self.run_id, self.source_dataset = results["run_id"], results["dataset"]

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
        return {**super().describe(), "source": str(self.source), "split": self.split, "run_id": self.run_id,
                "run_dir": str(self.run_dir), "classifier_dataset": self.source_dataset,
                "num_classes": int(self.logits.shape[1]), "smoke": self.smoke}
