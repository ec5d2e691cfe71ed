"""Stable Diffusion pipeline folders read from local disk: layout check (with an error naming the expected files and
how to get them), provenance (sha256 of every file loaded) and loading, shared by the adapters that sample SD.

Two kinds of folder: a diffusers ``StableDiffusionPipeline`` (``model_index.json`` with unet, vae, text_encoder,
tokenizer, scheduler) and a pixel-space text-to-image folder, the same without ``vae`` (the Bright Ending demo's
tiny model trained on digits): :func:`load_text_to_image` returns the components of either.
"""
from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench.io import sha256_file

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

PIPELINE_CLASS = "StableDiffusionPipeline"
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
# Files each component needs besides its weights (one of each tuple); weights in the order the loaders prefer them,
# so the file hashed is the file loaded (a sharded checkpoint: its index, then every shard it names).
_CONFIGS = {"unet": ("config.json",), "vae": ("config.json",), "text_encoder": ("config.json",),
            "tokenizer": ("tokenizer.json", "vocab.json"), "scheduler": ("scheduler_config.json",)}
DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json",
                     "diffusion_pytorch_model.bin", "diffusion_pytorch_model.bin.index.json")
_WEIGHTS = {"unet": DIFFUSERS_WEIGHTS,
            "text_encoder": ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                             "pytorch_model.bin.index.json")}
_WEIGHTS["vae"] = DIFFUSERS_WEIGHTS
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
    """A Stable Diffusion folder is missing or incomplete; the message names the path, the layout and the fix.
    Other folder kinds (text-to-video pipelines) subclass it with their own ``TITLE``, ``LAYOUT`` and ``FIX``."""

    TITLE, LAYOUT, FIX = "Stable Diffusion pipeline", LAYOUT, FIX

    def __init__(self, path: str | Path, problem: str) -> None:
        layout = "\n".join(f"    {line}" for line in self.LAYOUT.strip().splitlines())
        super().__init__(f"{self.TITLE}: {problem}\n  path: {path}\n  expected layout:\n{layout}\n"
                         f"  how to get it: {self.FIX}")
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.args[0])


def weight_files(folder: Path, component: str, error: type[PipelineLayoutError] = PipelineLayoutError,
                 names: tuple[str, ...] | None = None) -> list[Path]:
    """The weight files the loader reads for ``component``: the preferred single file, or an index and its shards.
    ``names`` (default: the component's diffusers / transformers file names) are tried in order; a missing file
    raises ``error``."""
    names = names or _WEIGHTS[component]
    for name in names:
        path = folder / name
        if path.is_file():
            if not name.endswith(".index.json"):
                return [path]
            shards = sorted(set(json.loads(path.read_text(encoding="utf-8"))["weight_map"].values()))
            missing = [s for s in shards if not (folder / s).is_file()]
            if missing:
                raise error(folder / missing[0], f"{component}: shard(s) {missing} named by {name} are missing")
            return [path] + [folder / s for s in shards]
    raise error(folder / names[0], f"{component}: no weights file ({' or '.join(names)})")


def check_layout(folder: str | Path, pixel_space: bool = False, class_name: str = PIPELINE_CLASS,
                 error: type[PipelineLayoutError] = PipelineLayoutError) -> dict[str, list[Path]]:
    """Raise ``error`` (a :class:`PipelineLayoutError`) unless ``folder`` holds a complete diffusers pipeline of
    ``class_name`` with :data:`COMPONENTS` (without ``vae`` when ``pixel_space``); returns the files to hash per
    component (model_index.json, weights, tokenizer files). Another ``_class_name`` is a ValueError."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise error(root, "folder not found")
    index = root / "model_index.json"
    if not index.is_file():
        raise error(index, "no model_index.json (not a diffusers pipeline folder)")
    declared = json.loads(index.read_text(encoding="utf-8"))
    if declared.get("_class_name") != class_name:
        raise ValueError(f"{index} describes a {declared.get('_class_name')!r}, not a {class_name}: this loader "
                         f"reads {class_name} folders only")
    files: dict[str, list[Path]] = {"model_index": [index]}
    for component in COMPONENTS:
        if pixel_space and component == "vae":
            continue
        sub = root / component
        if component not in declared or not sub.is_dir():
            raise error(sub, f"component {component!r} missing (model_index.json entry and {component}/ folder are "
                        "both needed)")
        if not any((sub / name).is_file() for name in _CONFIGS[component]):
            raise error(sub / _CONFIGS[component][0], f"{component}: no {' or '.join(_CONFIGS[component])}")
        if component in _WEIGHTS:
            files[component] = weight_files(sub, component, error)
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


def is_pixel_space(folder: str | Path) -> bool:
    """Whether a pipeline folder's ``model_index.json`` declares no ``vae`` (a pixel-space text-to-image model)."""
    index = Path(folder).expanduser() / "model_index.json"
    if not index.is_file():
        raise PipelineLayoutError(index, "no model_index.json (not a diffusers pipeline folder)")
    return "vae" not in json.loads(index.read_text(encoding="utf-8"))


@dataclass
class TextToImageModel:
    """The components a text-to-image sampling loop calls: a ``vae`` of None means the UNet works in pixel space
    (its samples are the images, in [-1, 1])."""

    unet: Any
    text_encoder: Any
    tokenizer: Any
    scheduler: Any
    vae: Any
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def latent_scale(self) -> int:
        """Image pixels per latent pixel (8 for SD 1.x; 1 in pixel space)."""
        return 1 if self.vae is None else 2 ** (len(self.vae.config.block_out_channels) - 1)

    def to(self, device: torch.device | str) -> TextToImageModel:
        for module in (self.unet, self.text_encoder, self.vae):
            if module is not None:
                module.to(device)
        return self


def load_text_to_image(folder: str | Path, dtype: torch.dtype = torch.float32,
                       scheduler: str | None = "DDIMScheduler") -> TextToImageModel:
    """The components of a ``StableDiffusionPipeline`` folder (through :func:`load_stable_diffusion`) or of a
    pixel-space folder without ``vae`` (each component from its subfolder, local files only), eval mode, with the
    same provenance facts. ``scheduler`` replaces the folder's scheduler class (None keeps it)."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise PipelineLayoutError(root, "folder not found")
    if not is_pixel_space(root):
        pipe, facts = load_stable_diffusion(root, dtype, scheduler)
        return TextToImageModel(pipe.unet.eval(), pipe.text_encoder.eval(), pipe.tokenizer, pipe.scheduler,
                                pipe.vae.eval(), facts)
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from bench.registry import SCHEDULERS

    files = check_layout(root, pixel_space=True)
    unet = UNet2DConditionModel.from_pretrained(str(root / "unet"), local_files_only=True, torch_dtype=dtype,
                                                low_cpu_mem_usage=importlib.util.find_spec("accelerate") is not None)
    text_encoder = CLIPTextModel.from_pretrained(str(root / "text_encoder"), local_files_only=True, torch_dtype=dtype)
    tokenizer = CLIPTokenizer.from_pretrained(str(root / "tokenizer"), local_files_only=True)
    declared = json.loads((root / "model_index.json").read_text(encoding="utf-8"))
    folder_scheduler = declared["scheduler"][1] if isinstance(declared.get("scheduler"), list) else None
    name = scheduler or folder_scheduler
    try:
        cls = SCHEDULERS.get(name)
    except KeyError as error:
        raise ValueError(f"unknown diffusers scheduler {name!r} (e.g. DDIMScheduler): {error}") from None
    sched = cls.from_pretrained(str(root / "scheduler"), local_files_only=True)
    facts = {"format": "diffusers_pixel_space", "folder": str(root), "class_name": declared.get("_class_name"),
             "sha256": {str(p.relative_to(root)): sha256_file(p) for paths in files.values() for p in paths},
             "scheduler_class": type(sched).__name__, "folder_scheduler_class": folder_scheduler,
             "scheduler_config": {k: list(v) if isinstance(v, tuple) else v for k, v in dict(sched.config).items()},
             "dtype": str(dtype).removeprefix("torch."), "vae_scale_factor": 1,
             "unet_sample_size": unet.config.sample_size}
    return TextToImageModel(unet.eval(), text_encoder.eval(), tokenizer, sched, None, facts)
