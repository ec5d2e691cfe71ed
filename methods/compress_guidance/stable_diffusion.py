"""Compress Guidance's classifier-free guidance on Stable Diffusion: a denoising loop that doubles the batch only at
the steps a :class:`GuidanceSchedule` guides, over a ``StableDiffusionPipeline`` loaded from a local folder.

Which Stable Diffusion model the paper's SD row used is unconfirmed (MSCOCO, FID 16.04 with 50 guidance steps vs
14.04 with 8 under CompG; version, k and scale not reported). The authors' script (``dungdinhanh/DiT_compact``) uses
diffusers' ``StableUnCLIPPipeline`` (``stabilityai/stable-diffusion-2-1-unclip-small`` with the
``kakaobrain/karlo-v1-alpha`` prior) on MSCOCO val captions, 30k samples, center-cropped to 256. This loop serves
``StableDiffusionPipeline`` folders (SD 1.x / 2.x text-to-image), not the unCLIP pipeline.

Why our own loop: diffusers' CFG cut-off callbacks (``SDCFGCutoffCallback`` and kin) switch guidance off once after a
fraction of the steps, which is the early-stopping baseline; Compress Guidance toggles guidance per step (on at the
guided steps, off between them), so the loop here calls the pipeline's public components itself. With every step
guided it reproduces ``StableDiffusionPipeline.__call__`` (tested to float32 rounding).
"""
from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench.dist import detect
from bench.io import sha256_file
from bench.methods.compress_guidance.guidance import GuidanceCost, step_noise
from bench.methods.compress_guidance.schedule import GuidanceSchedule
from bench.progress import progress

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

PIPELINE_CLASS = "StableDiffusionPipeline"
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
# Files each component needs besides its weights (one of each tuple); weights in the order the loaders prefer them,
# so the file hashed is the file loaded (a sharded checkpoint: its index, then every shard it names).
_CONFIGS = {"unet": ("config.json",), "vae": ("config.json",), "text_encoder": ("config.json",),
            "tokenizer": ("tokenizer.json", "vocab.json"), "scheduler": ("scheduler_config.json",)}
_WEIGHTS = {"unet": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json",
                     "diffusion_pytorch_model.bin", "diffusion_pytorch_model.bin.index.json"),
            "text_encoder": ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                             "pytorch_model.bin.index.json")}
_WEIGHTS["vae"] = _WEIGHTS["unet"]
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json")

LAYOUT = """
<folder>/model_index.json                       (_class_name: StableDiffusionPipeline)
<folder>/unet/config.json + diffusion_pytorch_model.safetensors   (or .bin)
<folder>/vae/config.json + diffusion_pytorch_model.safetensors    (or .bin)
<folder>/text_encoder/config.json + model.safetensors             (or pytorch_model.bin)
<folder>/tokenizer/tokenizer.json, or vocab.json + merges.txt
<folder>/scheduler/scheduler_config.json
(safety_checker/ and feature_extractor/ are not needed)
"""
FIX = ("on a machine with internet run `huggingface-cli download <repo> --local-dir <folder>` (e.g. "
       "<repo> = stable-diffusion-v1-5/stable-diffusion-v1-5 or stabilityai/stable-diffusion-2-1-base; "
       "`hf download` in newer huggingface_hub), copy <folder> here and pass its path")


class PipelineLayoutError(FileNotFoundError):
    """A Stable Diffusion folder is missing or incomplete; the message names the path, the layout and the fix."""

    def __init__(self, path: str | Path, problem: str) -> None:
        layout = "\n".join(f"    {line}" for line in LAYOUT.strip().splitlines())
        super().__init__(f"Stable Diffusion pipeline: {problem}\n  path: {path}\n  expected layout:\n{layout}\n"
                         f"  how to get it: {FIX}")
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.args[0])


def _weight_files(folder: Path, component: str) -> list[Path]:
    """The weight files the loader reads for ``component``: the preferred single file, or an index and its shards."""
    for name in _WEIGHTS[component]:
        path = folder / name
        if path.is_file():
            if not name.endswith(".index.json"):
                return [path]
            shards = sorted(set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values()))
            missing = [s for s in shards if not (folder / s).is_file()]
            if missing:
                raise PipelineLayoutError(folder / missing[0], f"{component}: shard(s) {missing} named by {name} "
                                          "are missing")
            return [path] + [folder / s for s in shards]
    raise PipelineLayoutError(folder / _WEIGHTS[component][0],
                              f"{component}: no weights file ({' or '.join(_WEIGHTS[component])})")


def check_layout(folder: str | Path) -> dict[str, list[Path]]:
    """Raise :class:`PipelineLayoutError` unless ``folder`` holds a complete ``StableDiffusionPipeline``; returns the
    files to hash per component (model_index.json, weights, tokenizer files)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise PipelineLayoutError(root, "folder not found")
    index = root / "model_index.json"
    if not index.is_file():
        raise PipelineLayoutError(index, "no model_index.json (not a diffusers pipeline folder)")
    declared = json.loads(index.read_text(encoding="utf-8"))
    if declared.get("_class_name") != PIPELINE_CLASS:
        raise ValueError(f"{index} describes a {declared.get('_class_name')!r}, not a {PIPELINE_CLASS}: this loop "
                         "runs text-to-image Stable Diffusion folders only (StableUnCLIPPipeline etc. are not served)")
    files: dict[str, list[Path]] = {"model_index": [index]}
    for component in COMPONENTS:
        sub = root / component
        if component not in declared or not sub.is_dir():
            raise PipelineLayoutError(sub, f"component {component!r} missing (model_index.json entry and "
                                      f"{component}/ folder are both needed)")
        if not any((sub / name).is_file() for name in _CONFIGS[component]):
            raise PipelineLayoutError(sub / _CONFIGS[component][0],
                                      f"{component}: no {' or '.join(_CONFIGS[component])}")
        if component in _WEIGHTS:
            files[component] = _weight_files(sub, component)
        elif component == "tokenizer":
            files[component] = [sub / name for name in _TOKENIZER_FILES if (sub / name).is_file()]
    return files


def load_stable_diffusion(folder: str | Path, dtype: torch.dtype = torch.float32, scheduler: str | None = None,
                          ) -> tuple[StableDiffusionPipeline, dict[str, Any]]:
    """A ``StableDiffusionPipeline`` from a local diffusers folder (local files only, no safety checker) and
    provenance facts: folder, class, sha256 of model_index.json, weights and tokenizer files, scheduler and config.
    ``scheduler`` (a diffusers class name, e.g. ``"DDIMScheduler"``) replaces the folder's scheduler, built from its
    config: SD 1.x folders ship PNDM, whose first step calls the UNet twice (n + 1 calls), which a per-step schedule
    cannot address."""
    from diffusers import StableDiffusionPipeline

    root = Path(folder).expanduser()
    files = check_layout(root)
    pipe = StableDiffusionPipeline.from_pretrained(
        str(root), local_files_only=True, torch_dtype=dtype,  # diffusers 0.42 prefers dtype=; >=0.30 knows torch_dtype
        # No safety checker: the evaluation protocol scores every sample (FID on all 30k); the checker would
        # blacken flagged images and bias the metric. The feature extractor only feeds the checker.
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        low_cpu_mem_usage=importlib.util.find_spec("accelerate") is not None)  # without accelerate diffusers warns
    pipe.set_progress_bar_config(disable=True)
    folder_scheduler = type(pipe.scheduler).__name__
    if scheduler is not None:
        from bench.registry import SCHEDULERS

        try:
            cls = SCHEDULERS.get(scheduler)
        except KeyError as error:
            raise ValueError(f"unknown diffusers scheduler {scheduler!r} (e.g. DDIMScheduler, EulerDiscreteScheduler):"
                             f" {error}") from None
        pipe.scheduler = cls.from_config(pipe.scheduler.config)
    scheduler_config = {k: list(v) if isinstance(v, tuple) else v for k, v in dict(pipe.scheduler.config).items()}
    facts = {
        "format": "diffusers_pipeline", "folder": str(root), "class_name": PIPELINE_CLASS,
        "sha256": {str(p.relative_to(root)): sha256_file(p) for paths in files.values() for p in paths},
        "scheduler_class": type(pipe.scheduler).__name__, "folder_scheduler_class": folder_scheduler,
        "scheduler_config": scheduler_config,
        "dtype": str(dtype).removeprefix("torch."), "vae_scale_factor": int(pipe.vae_scale_factor),
        "unet_sample_size": pipe.unet.config.sample_size, "safety_checker": None,
    }
    return pipe, facts


def _step_kwargs(scheduler: Any, generators: list[torch.Generator]) -> dict[str, Any]:
    """What ``scheduler.step`` takes besides the prediction: eta 0 (deterministic DDIM, as the pipeline's default)
    and the per-sample generators for schedulers that draw noise."""
    accepted = inspect.signature(scheduler.step).parameters
    return {**({"eta": 0.0} if "eta" in accepted else {}), **({"generator": generators} if "generator" in accepted
                                                               else {})}


@torch.no_grad()
def sample_stable_diffusion(pipe: StableDiffusionPipeline, prompts: list[str], schedule: GuidanceSchedule,
                            guidance_scale: float, num_inference_steps: int, generators: list[torch.Generator],
                            height: int | None = None, width: int | None = None, negative_prompt: str = "",
                            ) -> tuple[torch.Tensor, GuidanceCost]:
    """Images in [-1, 1], [B, 3, H, W] float32, and the per-sample cost: CFG ``e_u + s (e_c - e_u)`` on the doubled
    batch at the steps ``schedule`` guides, the conditional pass alone elsewhere. Loop position j reads the schedule
    at index ``n - 1 - j``; one generator per prompt draws its latents and its scheduler noise."""
    if len(generators) != len(prompts):
        raise ValueError(f"need one generator per prompt: {len(prompts)} prompts, {len(generators)} generators")
    if schedule.n != num_inference_steps:
        raise ValueError(f"schedule has {schedule.n} steps, num_inference_steps is {num_inference_steps}")
    if pipe.unet.config.time_cond_proj_dim is not None:
        raise ValueError("this UNet embeds the guidance scale (time_cond_proj_dim: guidance-distilled, e.g. LCM); "
                         "per-step CFG toggling does not apply to it")
    scale, size = pipe.vae_scale_factor, pipe.unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    height, width = height or size[0] * scale, width or size[1] * scale
    if height % scale or width % scale:
        raise ValueError(f"height and width must be multiples of the VAE factor {scale}, got {height}x{width}")
    device, scheduler = pipe.device, pipe.scheduler

    scheduler.set_timesteps(num_inference_steps, device=device)
    timesteps = scheduler.timesteps
    if len(timesteps) != num_inference_steps:  # PNDM (n + 1 calls), Heun / DPM2 (2n - 1): no call per step
        raise ValueError(f"{type(scheduler).__name__} calls the UNet {len(timesteps)} times for {num_inference_steps} "
                         "steps, so a per-step schedule cannot address its calls; load the pipeline with "
                         "scheduler='DDIMScheduler' (or Euler, EulerAncestral, DPMSolverMultistep, UniPCMultistep)")
    weights = [schedule.weight(num_inference_steps - 1 - j, int(t)) for j, t in enumerate(timesteps)]
    guided_any = any(w > 0 for w in weights)
    negative = [negative_prompt] * len(prompts) if guided_any else None  # a str would give one row, not B
    cond, uncond = pipe.encode_prompt(prompts, device, 1, guided_any, negative)
    both = torch.cat([uncond, cond]) if guided_any else None

    # One float32 draw per prompt from its own CPU generator, then cast: an image never depends on its batch, and
    # float16 runs start from the same noise as float32 ones (diffusers draws in the latent dtype; equal in float32).
    shape = (len(prompts), pipe.unet.config.in_channels, height // scale, width // scale)
    latents = step_noise(generators, torch.empty(shape, device=device, dtype=cond.dtype)) * scheduler.init_noise_sigma
    step_kwargs = _step_kwargs(scheduler, generators)
    cost = GuidanceCost()
    steps = progress(zip(timesteps, weights, strict=True), total=len(timesteps), desc="sampling", unit="step",
                     show=detect().rank == 0)
    for j, (t, weight) in enumerate(steps):
        if weight > 0:  # the counter gates CFG, it does not scale it (the authors' CFG code)
            model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            eps_u, eps_c = pipe.unet(model_input, t, encoder_hidden_states=both, return_dict=False)[0].chunk(2)
            noise_pred = eps_u + guidance_scale * (eps_c - eps_u)
            cost.extra_forwards += 1
            cost.count_guided(schedule, num_inference_steps - 1 - j)
        else:
            model_input = scheduler.scale_model_input(latents, t)
            noise_pred = pipe.unet(model_input, t, encoder_hidden_states=cond, return_dict=False)[0]
        cost.model_forwards += 1
        cost.steps += 1
        latents = scheduler.step(noise_pred, t, latents, **step_kwargs, return_dict=False)[0]
    images = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
    return images.float().clamp(-1, 1), cost
