"""Runner overhead: ``bench run`` (sharding, per-sample seeds, store, aggregation, result files) against a
bare ``for batch in loader: model(batch)`` loop over the same model and data. Target: >= 0.97x throughput.

Rounds alternate bare loop and runner, and the ratio uses the fastest round of each: on a shared 2-core
machine the same loop's time drifts by 20% between runs, and load only ever slows a round down."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import torch

from bench.config import load_config
from bench.data import BenchDataset
from bench.methods.classifier import TimmClassifier
from bench.registry import DATASETS
from bench.runner import evaluate

TARGET = 0.97
N_SAMPLES, SIZE, BATCH, ROUNDS = 8192, 32, 128, 5


@DATASETS.register_module(force=True)
class RandomImages(BenchDataset):
    """Fixed random 3x32x32 images with labels: the same tensors for the bare loop and the runner."""

    def __init__(self, n: int = N_SAMPLES, size: int = SIZE) -> None:
        gen = torch.Generator().manual_seed(0)
        self.images = torch.rand(n, 3, size, size, generator=gen)
        self.targets = torch.randint(0, 10, (n,), generator=gen)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict:
        return {"image": self.images[index], "target": self.targets[index]}

    def sample_id(self, index: int) -> str:
        return f"rand-{index:06d}"


METHOD = dict(type="TimmClassifier", model_name="resnet10t", num_classes=10, in_chans=3)


def bare_loop() -> None:
    method = TimmClassifier(**{k: v for k, v in METHOD.items() if k != "type"})
    torch.manual_seed(0)
    method.setup(torch.device("cpu"))
    loader = torch.utils.data.DataLoader(RandomImages(), batch_size=BATCH, shuffle=False)
    with torch.inference_mode():
        for batch in loader:
            method.model(method.preprocess(batch["image"])).float()


def runner(work_dir: Path) -> None:
    shutil.rmtree(work_dir, ignore_errors=True)
    cfg = load_config("demo/harness_digits", {"dataset": {"type": "RandomImages", "_delete_": True},
                                               "method": {**METHOD, "_delete_": True},
                                               "run.batch_size": BATCH, "run.work_dir": str(work_dir),
                                               "run.device": "cpu"})
    cfg.pop("train")
    evaluate(cfg, wandb_mode="disabled", progress=False)


@pytest.mark.benchmark(group="runner-overhead")
def test_runner_vs_bare_loop(benchmark, tmp_path: Path):
    """Each round runs the bare loop, then the runner: interleaving keeps machine drift out of the ratio."""
    times: dict[str, list[float]] = {"bare": [], "runner": []}

    def pair() -> None:
        for name, work in (("bare", bare_loop), ("runner", lambda: runner(tmp_path / "run"))):
            start = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - start)

    benchmark.pedantic(pair, rounds=ROUNDS, warmup_rounds=1)
    bare, run = min(times["bare"][1:]), min(times["runner"][1:])  # [0] is the warm-up round
    ratio = bare / run
    benchmark.extra_info.update(throughput_ratio=round(ratio, 4), target=TARGET, samples=N_SAMPLES,
                                bare_best_s=round(bare, 4), runner_best_s=round(run, 4),
                                device=torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
                                torch=torch.__version__, threads=torch.get_num_threads())
    print(f"\nrunner throughput / bare loop throughput = {ratio:.3f} (target >= {TARGET}; "
          f"best of {ROUNDS}: bare {bare:.3f} s, runner {run:.3f} s)")
    assert ratio >= TARGET, f"runner reaches {ratio:.3f}x of the bare loop's throughput"
