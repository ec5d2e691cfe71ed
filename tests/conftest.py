"""Shared fixtures: a digits classifier trained once per session, and eval configs that use it."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.config import load_config
from bench.seeding import seed_everything
from helpers import DEMO


@pytest.fixture(autouse=True)
def _isolated_results(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs a test makes without a work_dir land in a temporary results root, never in the checkout."""
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path_factory.mktemp("results")))
    monkeypatch.setenv("WANDB_MODE", "offline")


@pytest.fixture(scope="session")
def digits_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """timm test_resnet trained on the digits train split with the demo's settings (a few seconds)."""
    from bench.datasets.digits import Digits
    from bench.methods.classifier import TimmClassifier

    cfg = load_config(DEMO)
    method = TimmClassifier(**{k: v for k, v in cfg.method.items() if k != "type"})
    train = {k: v for k, v in cfg.train.items() if k != "dataset"}
    seed_everything(train["seed"])
    return method.fit(Digits(split="train"), None, tmp_path_factory.mktemp("train"), torch.device("cpu"), **train)


@pytest.fixture(scope="session")
def tiny_ddpm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 8x8x1 DDPM saved as a diffusers pipeline folder (generation and guidance tests)."""
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=4)
    folder = tmp_path_factory.mktemp("tiny_ddpm")
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(clip_sample=False)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def generated_images_run(tiny_ddpm_folder: Path, tmp_path_factory: pytest.TempPathFactory):
    """``make(num_samples, batch_size, index_seeds=0, limit=None)``: the run directory of a finished (cached per
    arguments) generation run that samples ``tiny_ddpm_folder`` with 3 DDIM steps, image i seeded
    ``index_seeds + i``, as the DAS demo's das_0_model does (generated attribution queries)."""
    from bench.runner import evaluate

    root = tmp_path_factory.mktemp("generated")
    made: dict[tuple, Path] = {}

    def make(num_samples: int, batch_size: int, index_seeds: int = 0, limit: int | None = None) -> Path:
        key = (num_samples, batch_size, index_seeds, limit)
        if key not in made:
            path = root / f"gen_{num_samples}_{batch_size}_{index_seeds}_{limit}.py"
            path.write_text(
                f"dataset = dict(type='GenerationRequests', num_samples={num_samples})\n"
                f"method = dict(type='DiffusionSampler', model={str(tiny_ddpm_folder)!r}, num_inference_steps=3,\n"
                f"              scheduler=dict(type='DDIMScheduler', clip_sample=True), index_seeds={index_seeds})\n"
                "task = dict(type='generation', extractor=dict(type='PixelCorrelationFeatures'), metrics=[],\n"
                "            image_format='png')\n"
                f"run = dict(device='cpu', batch_size={batch_size}, limit={limit})\n")
            cfg = load_config(path, {"run.work_dir": str(root / path.stem)})
            made[key] = evaluate(cfg, wandb_mode="disabled", progress=False)
        return made[key]

    return make
