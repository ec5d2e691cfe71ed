"""``DiffusionSampler``: a pretrained UNet and a scheduler as a method adapter of the generation task.

Each sample's initial noise and every per-step noise draw come from its own CPU generator seeded with the
sample's seed, so an image depends on its id and the base seed only, never on batch size, world size or device
(diffusers' reproducibility recipe: a list of generators). ``index_seeds`` seeds sample ``i``'s generator with
``index_seeds + i`` instead (D-TRAK's ``gen_unconditional.py``: ``gen_seed·1000 + i``), equally batch-independent.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from bench.tasks.generation.exports import to_uint8_images
from bench.dist import detect
from bench.method import Method
from bench.precision import check_precision, dtype_of
from bench.progress import progress
from bench.registry import METHODS, SCHEDULERS
from bench.seeding import sample_generator
from bench.store import Columns

NOISE_SCHEDULE_KEYS = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas",
                       "prediction_type")


def build_scheduler(spec: dict[str, Any], model_config: dict[str, Any]) -> Any:
    """A scheduler from ``{"type": name, **overrides}`` on top of the model folder's scheduler config.

    ``type`` is a ``SCHEDULERS`` name: a diffusers scheduler class (``DDIMScheduler``, ``DDPMScheduler``, ...), which
    takes every setting of the model's config it knows (betas, clipping, spacing), or a paper's scheduler. A class
    that sets ``model_config_keys`` takes only those keys of the model's config (AMS's ``AdaptiveMomentumScheduler``:
    the noise schedule, :data:`NOISE_SCHEDULE_KEYS`; its time grid is the official one).
    """
    spec = dict(spec)
    name = spec.pop("type")
    try:
        cls = SCHEDULERS.get(name)
    except KeyError as error:
        raise ValueError(f"unknown scheduler {name!r}: {error}") from None
    base = {k: v for k, v in model_config.items() if not k.startswith("_")}
    keys = getattr(cls, "model_config_keys", None)
    if keys is not None:  # the model fixes only these settings; the rest are the scheduler's own
        base = {k: v for k, v in base.items() if k in keys}
    return cls.from_config({**base, **spec})


def sample_images(unet: Any, scheduler: Any, num_inference_steps: int, seeds: list[int], device: torch.device,
                  dtype: torch.dtype = torch.float32, class_labels: torch.Tensor | None = None,
                  show: bool = False) -> torch.Tensor:
    """Samples [B, C, H, W] in the model's range (≈ [−1, 1]) of ``num_inference_steps`` of ``scheduler``; sample
    ``i``'s initial noise and per-step noise come from its own CPU generator seeded ``seeds[i]`` (the same image for
    the same seed and weights, whatever the batch)."""
    from diffusers.utils.torch_utils import randn_tensor

    config = unet.config
    generators = [sample_generator(int(seed)) for seed in seeds]
    shape = (len(generators), config.in_channels, config.sample_size, config.sample_size)
    sample = randn_tensor(shape, generator=generators, device=device, dtype=dtype)
    scheduler.set_timesteps(num_inference_steps, device=device)
    for t in progress(scheduler.timesteps, desc="sampling", unit="step", show=show):
        model_input = scheduler.scale_model_input(sample, t)
        noise_pred = unet(model_input, t, class_labels=class_labels).sample
        sample = scheduler.step(noise_pred, t, sample, generator=generators).prev_sample
    return sample


@METHODS.register_module()
class DiffusionSampler(Method):
    """Sample ``num_inference_steps`` of ``scheduler`` with the UNet at ``model`` (a diffusers pipeline or model
    folder, a Hugging Face repo id in the local cache, or an original DDPM checkpoint with ``preset``).

    ``unet_config`` instead of ``model`` builds a fresh UNet2DModel that ``fit`` trains (the digits demo).
    Outputs: ``image`` uint8 [B, H, W, C] and ``class_label``. ``dtype`` is the UNet's dtype (the sampler's
    arithmetic follows the sample's dtype, as in diffusers). ``index_seeds``: seed sample ``i`` (its dataset index)
    with ``index_seeds + i`` rather than the runner's per-sample seed (D-TRAK's generated queries).
    """

    eval_only_params = ("scheduler", "num_inference_steps", "dtype", "index_seeds")

    def __init__(self, scheduler: dict[str, Any], num_inference_steps: int, model: str | None = None,
                 preset: str | None = None, subfolder: str | None = None, unet_config: dict[str, Any] | None = None,
                 train_scheduler: dict[str, Any] | None = None, dtype: str = "fp32",
                 index_seeds: int | None = None, smoke_reason: str | None = None) -> None:
        if (model is None) == (unet_config is None):
            raise ValueError("DiffusionSampler: give exactly one of 'model' (pretrained weights) and 'unet_config' "
                             "(a UNet2DModel config that the train stage fits)")
        check_precision(dtype, "DiffusionSampler: dtype")
        self.scheduler_spec, self.num_inference_steps = dict(scheduler), int(num_inference_steps)
        self.model, self.preset, self.subfolder = model, preset, subfolder
        self.unet_config = dict(unet_config) if unet_config else None
        self.train_scheduler = dict(train_scheduler or {"num_train_timesteps": 1000, "beta_schedule": "linear",
                                                        "beta_start": 1e-4, "beta_end": 0.02})
        self.dtype = dtype
        if index_seeds is not None and int(index_seeds) < 0:
            raise ValueError(f"DiffusionSampler: index_seeds must be a seed >= 0 (sample i is seeded index_seeds + i), "
                             f"got {index_seeds}")
        self.index_seeds = None if index_seeds is None else int(index_seeds)
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.unet: Any = None
        self.scheduler: Any = None
        self.device = torch.device("cpu")
        self.facts: dict[str, Any] = {}
        self.sampling_seconds = 0.0

    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.diffusion.unet import load_scheduler_config, load_unet

        if self.model is None:
            raise RuntimeError("DiffusionSampler: no weights; run the config's train stage (bench run/train) first")
        self.device = device
        self.unet, self.facts = load_unet(self.model, preset=self.preset, subfolder=self.subfolder,
                                          dtype=dtype_of(self.dtype))
        self.unet.to(device).eval()
        self.scheduler = build_scheduler(self.scheduler_spec, load_scheduler_config(self.model, preset=self.preset))

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        assert self.unet is not None, "setup() was not called"
        if self.index_seeds is not None:
            seeds = self.index_seeds + torch.as_tensor(batch["index"], dtype=torch.int64)
        labels = batch["class_label"].to(self.device)
        class_labels = labels if getattr(self.unet.config, "num_class_embeds", None) else None
        start = time.perf_counter()
        sample = sample_images(self.unet, self.scheduler, self.num_inference_steps, [int(s) for s in seeds],
                               self.device, dtype=dtype_of(self.dtype), class_labels=class_labels,
                               show=detect().rank == 0)
        self.sampling_seconds += time.perf_counter() - start
        return {"image": to_uint8_images(sample).cpu(), "class_label": batch["class_label"]}

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        from bench.methods.diffusion.training import train_ddpm

        if self.unet_config is None:
            raise ValueError("DiffusionSampler: 'fit' needs 'unet_config' (pretrained models are not trained here)")
        return train_ddpm(self.unet_config, self.train_scheduler, train_set, work_dir, device, resume=resume,
                          **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        self.model = str(path)

    def provenance(self) -> dict[str, Any]:
        scheduler = dict(self.scheduler.config) if self.scheduler is not None else self.scheduler_spec
        return {**super().provenance(), "model": self.facts, "scheduler": {"class": self.scheduler_spec["type"],
                **{k: v for k, v in scheduler.items() if not k.startswith("_")}},
                "num_inference_steps": self.num_inference_steps,
                "model_evaluations_per_sample": len(self.scheduler.timesteps) if self.scheduler is not None
                and self.scheduler.timesteps is not None else None,
                "dtype": self.dtype, "noise_seeds": "runner per-sample seed (sha256 of base seed and sample id)"
                if self.index_seeds is None else f"index_seeds + dataset index ({self.index_seeds} + i)",
                "sampling_seconds_rank0": round(self.sampling_seconds, 3)}
