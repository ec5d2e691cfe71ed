"""``LoRATextToImageSampler``: D-TRAK's generated ArtBench queries, sampled from the LoRA fine-tune that is attributed.

``sail-sg/D-TRAK`` ``ArtBench{2,5}/gen_text_to_image_lora.py`` (called by ``scripts/run_gen.sh``) loads
``StableDiffusionPipeline.from_pretrained(miniSD, torch_dtype=float16)``, swaps in ``DDIMScheduler.from_config`` of
the folder's scheduler, disables the safety checker, loads the fine-tuned LoRA (``unet.load_attn_procs``) and draws
1,000 images at 256 px in batches of 256: 50 steps, ``eta=0.0``, the pipeline's default guidance scale (7.5, against
the empty negative prompt), image ``i`` from ``torch.Generator('cpu').manual_seed(gen_seed * 1000 + i)``, prompts in
blocks by index (ArtBench-2: 500 x "a ukiyo e painting", then 500 x "a post impressionism painting"; ArtBench-5:
200 each of ukiyo e, post impressionism, romanticism, renaissance, baroque), each saved as ``<i>.png``; the README runs
``run_gen.sh 0 0 ...`` (gen_seed 0).

Here the prompts are the dataset's (``GenerationRequests(prompts=..., samples_per_prompt=...)``), image ``i`` (its
dataset index) is seeded ``index_seeds + i`` with a CPU generator as there, and the pipeline is diffusers' own, called
with one generator per image, so an image does not depend on its batch. The images are quantised as the PIL images
D-TRAK saves (``round(255 · x)`` of the pipeline's [0, 1] output); each sample also stores its ``prompt``, which
:class:`bench.datasets.generation.GeneratedImages` serves as the query's ``caption``. The LoRA adapters are
:func:`~bench.methods.das.latent_model.add_lora`'s (peft, D-TRAK's rank and targets), loaded from ``lora_weights``
(in a config ``upstream:<name>`` of the train stage that fitted them) or trained by :meth:`fit` with D-TRAK's recipe
(:func:`~bench.methods.das.lora_train.train_lora`), so a config can bring the full-data LoRA itself.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.method import Method
from bench.precision import check_precision, dtype_of
from bench.registry import METHODS
from bench.store import Columns


@METHODS.register_module()
class LoRATextToImageSampler(Method):
    """Text-to-image samples of a local Stable Diffusion folder with LoRA adapters, one per request's ``prompt``.

    Args:
        model: the local Stable Diffusion folder (miniSD in D-TRAK), diffusers layout.
        lora_weights: the fine-tuned adapters' folder (``pytorch_lora_weights.safetensors`` or D-TRAK's
            ``save_attn_procs`` file); None until the train stage sets it.
        lora_rank: the adapters' rank (D-TRAK: 128, α = rank).
        scheduler: the diffusers scheduler class built from the folder's scheduler config (D-TRAK: DDIM).
        num_inference_steps, guidance_scale, eta: the pipeline's arguments (D-TRAK: 50, the default 7.5, 0.0).
        resolution: height and width in pixels (D-TRAK: 256).
        dtype: the pipeline's weights and arithmetic (D-TRAK: fp16; CPU runs want fp32).
        index_seeds: image ``i`` is drawn from a CPU generator seeded ``index_seeds + i`` (D-TRAK: gen_seed · 1000);
            None uses the runner's per-sample seed.

    Outputs: ``image`` uint8 [B, H, W, 3] and ``prompt`` (one string per image).
    """

    eval_only_params = ("lora_weights", "scheduler", "num_inference_steps", "guidance_scale", "eta", "resolution",
                        "dtype", "index_seeds")

    def __init__(self, model: str, lora_weights: str | None = None, lora_rank: int = 128,
                 scheduler: str = "DDIMScheduler", num_inference_steps: int = 50, guidance_scale: float = 7.5,
                 eta: float = 0.0, resolution: int = 256, dtype: str = "fp16", index_seeds: int | None = 0,
                 smoke_reason: str | None = None) -> None:
        check_precision(dtype, "LoRATextToImageSampler: dtype")
        if int(num_inference_steps) < 1:
            raise ValueError(f"LoRATextToImageSampler: num_inference_steps must be >= 1, got {num_inference_steps}")
        if int(resolution) < 8 or int(resolution) % 8:
            raise ValueError(f"LoRATextToImageSampler: resolution must be a positive multiple of 8 (the VAE's "
                             f"factor), got {resolution}")
        if index_seeds is not None and int(index_seeds) < 0:
            raise ValueError(f"LoRATextToImageSampler: index_seeds must be a seed >= 0 (image i is seeded "
                             f"index_seeds + i), got {index_seeds}")
        self.model, self.lora_weights, self.lora_rank = model, lora_weights, int(lora_rank)
        self.scheduler_name, self.num_inference_steps = scheduler, int(num_inference_steps)
        self.guidance_scale, self.eta, self.resolution = float(guidance_scale), float(eta), int(resolution)
        self.dtype = dtype
        self.index_seeds = None if index_seeds is None else int(index_seeds)
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.pipe: Any = None
        self.facts: dict[str, Any] = {}
        self.lora: dict[str, Any] = {}
        self.device = torch.device("cpu")
        self.sampling_seconds = 0.0

    def setup(self, device: torch.device, seed: int = 0) -> None:
        if self.lora_weights is None:
            raise RuntimeError("LoRATextToImageSampler: no LoRA weights; run the config's train stage (bench run / "
                               "train) or set method.lora_weights to a fine-tuned LoRA folder")
        self._load(device, self.lora_weights)

    def setup_untrained(self, device: torch.device, seed: int = 0) -> None:
        """``bench validate`` before the train stage: the adapters as initialised (peft's gaussian init sets
        ``lora_B`` = 0, so the base model samples)."""
        self._load(device, None)

    def _load(self, device: torch.device, lora_weights: str | None) -> None:
        from bench.methods.das.latent_model import add_lora, load_lora_weights
        from bench.methods.diffusion.stable_diffusion import load_stable_diffusion

        pipe, self.facts = load_stable_diffusion(self.model, torch.float32, scheduler=self.scheduler_name)
        add_lora(pipe.unet, self.lora_rank)  # float32 first: the adapters are created, then loaded, then cast
        self.lora = load_lora_weights(pipe.unet, lora_weights) if lora_weights is not None else {
            "lora_weights": None, "lora_init": "peft gaussian, lora_B = 0 (untrained)"}
        dtype = dtype_of(self.dtype)
        self.pipe = pipe.to(device) if dtype == torch.float32 else pipe.to(device=device, dtype=dtype)
        self.pipe.unet.eval()
        self.device = device

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        from bench.seeding import sample_generator

        assert self.pipe is not None, "setup() was not called"
        prompts = batch.get("prompt")
        if prompts is None:
            raise ValueError("LoRATextToImageSampler needs a prompt per request: use GenerationRequests with "
                             "prompts=[...] or prompts_file=...")
        if self.index_seeds is not None:
            seeds = self.index_seeds + torch.as_tensor(batch["index"], dtype=torch.int64)
        generators = [sample_generator(int(s)) for s in seeds]
        start = time.perf_counter()
        with torch.no_grad():
            images = self.pipe(list(prompts), height=self.resolution, width=self.resolution,
                               num_inference_steps=self.num_inference_steps, guidance_scale=self.guidance_scale,
                               eta=self.eta, generator=generators, output_type="np").images
        self.sampling_seconds += time.perf_counter() - start
        # diffusers' numpy_to_pil, what D-TRAK's saved PNGs hold
        pixels = torch.from_numpy((np.asarray(images) * 255).round().astype(np.uint8))
        return {"image": pixels, "prompt": [str(p) for p in prompts]}

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Train the adapters on ``train_set`` (items ``image`` and ``caption``) with D-TRAK's LoRA recipe (the train
        section's keys are :data:`~bench.methods.das.lora_train.LORA_RECIPE`'s); returns the LoRA folder."""
        from bench.methods.das.lora_train import train_lora

        return train_lora(self.model, train_set, Path(work_dir), device, resume=resume, lora_rank=self.lora_rank,
                          **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        self.lora_weights = str(path)

    def provenance(self) -> dict[str, Any]:
        scheduler = dict(self.pipe.scheduler.config) if self.pipe is not None else {}
        return {**super().provenance(), "model": self.facts, "lora": {**self.lora, "lora_rank": self.lora_rank},
                "scheduler": {"class": self.scheduler_name,
                              **{k: v for k, v in scheduler.items() if not k.startswith("_")}},
                "num_inference_steps": self.num_inference_steps, "guidance_scale": self.guidance_scale,
                "eta": self.eta, "resolution": self.resolution, "dtype": self.dtype,
                "noise_seeds": "runner per-sample seed (sha256 of base seed and sample id)"
                if self.index_seeds is None else f"index_seeds + dataset index ({self.index_seeds} + i), CPU generator",
                "sampling_seconds_rank0": round(self.sampling_seconds, 3)}
