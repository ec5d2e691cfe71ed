"""The diffusion models that guided samplers (Compress Guidance, AMG) sample, each as a denoiser on guided-diffusion's
respaced process.

A :class:`Backbone` bundles ``denoise(x, t, y)`` (t = original timesteps), the :class:`RespacedDiffusion` it was
trained with, the sample shape, ``decode`` (identity for pixel models, the VAE for DiT's latents) and facts for
provenance. Sources, all local files only:

- ``adm``: an openai/guided-diffusion checkpoint (``64x64_diffusion.pt``, ...) or openai/improved-diffusion one
  (``cifar10_uncond_50M_500K.pt``, or one ``train_iddpm`` wrote) in our faithful ADM U-Net, with the noise schedule,
  learned variance and timestep feeding (improved-diffusion's ``rescale_timesteps``) of its preset or ``diffusion``;
- ``diffusers_unet``: a diffusers ``UNet2DModel`` folder (or the pipeline another config's train stage wrote, an
  upstream checkpoint ``model="upstream:<name>"``: the digits demo's DDPM), its betas from the folder's scheduler
  config;
- ``dit``: a diffusers ``DiTPipeline`` folder (``facebook/DiT-XL-2-256``): the transformer and VAE, sampled as
  DiT's own ``sample.py`` does (linear betas, learned sigma, 250 respaced ancestral steps, latents / 0.18215).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from bench.methods.diffusion.gaussian import (
    RespacedDiffusion,
    named_beta_schedule,
    rescaled_timesteps,
    space_timesteps,
)

BACKBONE_TYPES = ("adm", "diffusers_unet", "dit", "stable_diffusion")
# local files only; without accelerate diffusers warns unless low_cpu_mem_usage is off
_LOCAL = {"local_files_only": True, "low_cpu_mem_usage": importlib.util.find_spec("accelerate") is not None}


@dataclass
class Backbone:
    """A denoiser with its respaced process; ``null_class`` is the label of the unconditional pass (DiT: 1000)."""

    denoise: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
    diffusion: RespacedDiffusion
    sample_shape: tuple[int, int, int]
    class_conditional: bool
    decode: Callable[[torch.Tensor], torch.Tensor] = field(default=lambda z: z)
    null_class: int | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    modules: list[torch.nn.Module] = field(default_factory=list)


def model_source(spec: dict[str, Any]) -> str:
    """The backbone's ``model``: a local path (in a config, ``"upstream:<name>"`` of a ``checkpoint`` upstream for
    the pipeline another config trains; the runner resolves it, nothing trains here)."""
    from bench.upstream import require_path

    if isinstance(spec.get("model"), dict):
        raise ValueError(f"backbone model {spec['model']!r}: name another config's trained model through the config's "
                         "upstream section (upstream = dict(ddpm=dict(config=..., product='checkpoint')), "
                         "model='upstream:ddpm')")
    return require_path(spec.get("model"), "method.backbone.model")


def diffusers_betas(config: dict[str, Any]) -> np.ndarray:
    """float64 betas of a diffusers scheduler config (the schedules guided-diffusion also defines)."""
    steps = int(config.get("num_train_timesteps", 1000))
    schedule = config.get("beta_schedule", "linear")
    if config.get("trained_betas") is not None:
        return np.asarray(config["trained_betas"], dtype=np.float64)
    start, end = float(config.get("beta_start", 1e-4)), float(config.get("beta_end", 0.02))
    if schedule == "linear":
        return np.linspace(start, end, steps, dtype=np.float64)
    if schedule == "scaled_linear":
        return np.linspace(start ** 0.5, end ** 0.5, steps, dtype=np.float64) ** 2
    if schedule == "squaredcos_cap_v2":
        return named_beta_schedule("cosine", steps)
    raise ValueError(f"beta_schedule {schedule!r} is not supported here (linear, scaled_linear, squaredcos_cap_v2)")


def _adm(spec: dict[str, Any], respacing: str, device: torch.device) -> Backbone:
    from bench.methods.diffusion.adm import ADM_PRESETS, load_adm

    model, facts = load_adm(spec["checkpoint"], preset=spec.get("preset"), flags=spec.get("flags"),
                            use_fp16=bool(spec.get("use_fp16", False)))
    model.to(device).eval()
    preset = facts.get("preset")
    process = dict(ADM_PRESETS[preset]["diffusion"]) if preset in ADM_PRESETS else {}
    process.update(spec.get("diffusion", {}))
    if not process:
        raise ValueError(f"ADM backbone {spec['checkpoint']}: give 'diffusion' (steps, noise_schedule, learn_sigma; "
                         "rescale_timesteps=True for an improved-diffusion model) for a checkpoint without a preset")
    variance = "learned_range" if process.get("learn_sigma", True) else "fixed_large"
    diffusion = RespacedDiffusion(named_beta_schedule(process["noise_schedule"], process["steps"]),
                                  space_timesteps(process["steps"], respacing), variance)
    conditional = getattr(model, "num_classes", None) is not None
    rescale = bool(process.get("rescale_timesteps", False))
    steps = int(process["steps"])

    def denoise(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return model(x, rescaled_timesteps(t, steps) if rescale else t, y if conditional else None)

    shape = (model.in_channels, model.image_size, model.image_size)
    return Backbone(denoise, diffusion, shape, conditional, facts={"type": "adm", **facts, "diffusion": process},
                    modules=[model])


def _diffusers_unet(spec: dict[str, Any], respacing: str, device: torch.device) -> Backbone:
    from bench.methods.diffusion.unet import load_scheduler_config, load_unet

    source = model_source(spec)
    unet, facts = load_unet(source, subfolder=spec.get("subfolder"))
    unet.to(device).eval()
    config = load_scheduler_config(source)
    betas = diffusers_betas(config)
    channels = unet.config.in_channels
    variance = ("learned_range" if unet.config.out_channels == 2 * channels
                else spec.get("variance_type", config.get("variance_type", "fixed_small")))
    diffusion = RespacedDiffusion(betas, space_timesteps(len(betas), respacing), variance)
    conditional = bool(getattr(unet.config, "num_class_embeds", None))

    def denoise(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return unet(x, t, class_labels=y if conditional else None).sample

    shape = (channels, unet.config.sample_size, unet.config.sample_size)
    return Backbone(denoise, diffusion, shape, conditional,
                    facts={"type": "diffusers_unet", **facts, "variance_type": variance}, modules=[unet])


def _dit(spec: dict[str, Any], respacing: str, device: torch.device) -> Backbone:
    from diffusers import AutoencoderKL

    from bench.io import sha256_file
    from bench.methods.diffusion.unet import ModelLayoutError, locate_model_source

    root, cache_facts = locate_model_source(model_source(spec))
    for sub in ("transformer", "vae"):
        if not (root / sub / "config.json").is_file():
            raise ModelLayoutError(root / sub / "config.json", "not a DiTPipeline folder (transformer/, vae/)",
                                   "download facebook/DiT-XL-2-256 on a machine with internet "
                                   "(`huggingface-cli download facebook/DiT-XL-2-256 --local-dir <folder>`) and pass "
                                   "the folder, or its repo id with the Hugging Face cache copied here")
    transformer = _dit_transformer(root / "transformer").to(device).eval()
    vae = AutoencoderKL.from_pretrained(str(root / "vae"), **_LOCAL).to(device).eval()
    scaling = float(spec.get("latent_scale", vae.config.scaling_factor))
    config = transformer.config
    diffusion = RespacedDiffusion(named_beta_schedule("linear", 1000), space_timesteps(1000, respacing),
                                  "learned_range" if config.out_channels == 2 * config.in_channels else "fixed_large")

    def denoise(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return transformer(x, timestep=t, class_labels=y).sample

    def decode(latents: torch.Tensor) -> torch.Tensor:
        return vae.decode(latents.to(vae.dtype) / scaling).sample

    weights = sorted((root / "transformer").glob("diffusion_pytorch_model*"))
    facts = {"type": "dit", "path": str(root), **cache_facts, "latent_scale": scaling,
             "transformer_sha256": sha256_file(weights[0]) if weights else None}
    shape = (config.in_channels, config.sample_size, config.sample_size)
    return Backbone(denoise, diffusion, shape, True, decode=decode, null_class=int(config.num_embeds_ada_norm),
                    facts=facts, modules=[transformer, vae])


def _dit_transformer(folder: Path) -> torch.nn.Module:
    """diffusers >= 0.30 names DiT's transformer ``DiTTransformer2DModel``; older folders say ``Transformer2DModel``
    (the same weights: diffusers maps one onto the other)."""
    import diffusers

    cls = getattr(diffusers, "DiTTransformer2DModel", None) or diffusers.Transformer2DModel
    return cls.from_pretrained(str(folder), **_LOCAL)


def build_backbone(spec: dict[str, Any], respacing: str | int, device: torch.device) -> Backbone:
    """The backbone of a config's ``method.backbone`` (``type`` one of :data:`BACKBONE_TYPES`)."""
    spec = dict(spec)
    kind = spec.pop("type")
    builders = {"adm": _adm, "diffusers_unet": _diffusers_unet, "dit": _dit}
    if kind not in builders:  # stable_diffusion folders are sampled by .stable_diffusion, not on this process
        raise ValueError(f"unknown backbone type {kind!r}; use one of {BACKBONE_TYPES}")
    return builders[kind](spec, str(respacing), device)
