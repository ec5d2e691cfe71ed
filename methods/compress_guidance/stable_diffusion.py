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

import inspect
from typing import TYPE_CHECKING, Any

import torch

from bench.dist import detect
from bench.methods.compress_guidance.guidance import GuidanceCost
from bench.seeding import step_noise
from bench.methods.compress_guidance.schedule import GuidanceSchedule
from bench.progress import progress

if TYPE_CHECKING:
    from diffusers import StableDiffusionPipeline

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
