"""The memorization papers' text-to-image sampling loop: DDIM with classifier-free guidance, recording at every step
the magnitudes of Wen's detector (and BE's masked magnitude once a map is known) and, at one step, the BE map.

Follows ``LocalStableDiffusionPipeline.__call__`` of ``YuxinWenRick/diffusion_memorization`` / ``chenchen-usyd/BE-PRSS``
(``local_sd_pipeline.py``): the UNet runs on the CFG batch [unconditional, conditional], ε = ε_u + s (ε_c − ε_u),
and per generation and step it records ``text_noise_norm`` ‖ε_c − ε_u‖₂, ``uncond_noise_norm`` ‖ε_u‖₂ and, given a
mask M, ``text_noise_norm_masked`` ‖(ε_c − ε_u) ⊙ M‖₂ / mean(M). Differences from the official loop, each deliberate:

- latents are drawn per prompt from a CPU ``torch.Generator`` seeded ``gen_seed + row`` in float32 and cast (the
  official code seeds the global RNG and draws on the GPU in fp16), so an image does not depend on the device or on
  the other prompts of a batch;
- norms are taken in float32 (the official code takes them in the pipeline's fp16);
- the guidance is always computed on the doubled batch, also for a scale ≤ 1 (Wen's magnitude needs ε_u);
- a ``before_step`` hook may replace the conditional embedding at a step (Wen's inference-time mitigation runs there,
  :mod:`.mitigation`), and the BE capture is addressed by step (:class:`EOSAttentionCapture.at_step`), never by
  counting calls.

Generation is deterministic given the seed, so BE's second pass (regenerate with the map as mask) sees the same ε as
the first: ``keep_differences`` keeps ε_c − ε_u per step so m′ is computed after the map without regenerating
(:func:`masked_tracks`); the adapter's ``passes=2`` runs the official second pass instead (tested equal).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.methods.bright_ending.attention import EOSAttentionCapture
from bench.methods.bright_ending.magnitude import masked_text_noise_norm
from bench.methods.diffusion.stable_diffusion import TextToImageModel

# before_step(step index, timestep, latents, conditional embedding, unconditional embedding) -> conditional embedding
StepHook = Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SamplingSettings:
    """The official generation settings (``detect_mem.py`` / ``inference_mem.py`` defaults) as knobs."""

    num_inference_steps: int = 50
    guidance_scale: float = 7.5
    height: int | None = None  # None: the UNet's sample size × the VAE factor (512 for SD 1.x)
    width: int | None = None
    eta: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.num_inference_steps, bool) or not isinstance(self.num_inference_steps, int) \
                or self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be a positive int, got {self.num_inference_steps!r}")


@dataclass
class Generation:
    """One prompt's ``n`` generations: uint8 images (n, H, W, 3), per-step tracks (n, steps) in float32, the BE map
    (n, h, w) when captured, and the kept differences (steps, n, C, h, w) when asked."""

    images: torch.Tensor
    text_noise_norm: torch.Tensor
    uncond_noise_norm: torch.Tensor
    masked_noise_norm: torch.Tensor | None = None
    eos_map: torch.Tensor | None = None
    differences: torch.Tensor | None = None


@torch.no_grad()
def encode_prompts(model: TextToImageModel, prompts: list[str]) -> torch.Tensor:
    """The text encoder's last hidden states for ``prompts`` padded to the tokenizer's max length (77 for SD 1.x),
    as ``StableDiffusionPipeline.encode_prompt`` computes them for SD 1.x (no attention mask, no clip skip)."""
    tokenizer = model.tokenizer
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    encoder = model.text_encoder
    return encoder(ids.to(encoder.device))[0].to(encoder.dtype)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images (n, C, H, W) to uint8 (n, H, W, 3) as diffusers' image processor rounds them
    (``(x / 2 + 0.5).clamp(0, 1) · 255``, rounded); one channel is repeated to three."""
    pixels = ((images.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    return pixels.permute(0, 2, 3, 1).contiguous()


def latent_shape(model: TextToImageModel, n: int, settings: SamplingSettings) -> tuple[int, int, int, int]:
    """(n, C, h, w) of the latents for ``settings``' image size."""
    scale, size = model.latent_scale, model.unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    height, width = settings.height or size[0] * scale, settings.width or size[1] * scale
    if height % scale or width % scale:
        raise ValueError(f"height and width must be multiples of the VAE factor {scale}, got {height}x{width}")
    return n, model.unet.config.in_channels, height // scale, width // scale


def _step_kwargs(scheduler: Any, eta: float) -> dict[str, Any]:
    return {"eta": eta} if "eta" in inspect.signature(scheduler.step).parameters else {}


@torch.no_grad()  # the step hook re-enables gradients for itself
def generate(model: TextToImageModel, cond: torch.Tensor, uncond: torch.Tensor, n: int, seed: int,
             settings: SamplingSettings, capture: EOSAttentionCapture | None = None, eos: int | None = None,
             mask: torch.Tensor | None = None, keep_differences: bool = False,
             before_step: StepHook | None = None) -> Generation:
    """``n`` generations of one prompt (conditional embedding ``cond`` (1 or n, L, d); ``uncond`` the empty prompt's,
    (1 or n, L, d)) from latents drawn by a generator seeded ``seed``.

    ``capture`` (installed on the UNet, see :func:`.attention.install`) records the BE map at its step, with the EOS
    column ``eos``; ``mask`` (n, 1, h, w) adds BE's masked magnitude track; ``keep_differences`` keeps ε_c − ε_u
    of every step (in the UNet's dtype, on its device, for :func:`masked_tracks`: the same values m′ is taken from
    here); ``before_step`` may return a new conditional
    embedding before a step's UNet call (used from then on); it receives the embeddings as given (batch 1 or n)."""
    unet, scheduler = model.unet, model.scheduler
    device, dtype = unet.device, unet.dtype
    shape = latent_shape(model, n, settings)
    generator = torch.Generator().manual_seed(int(seed))
    latents = torch.randn(shape, generator=generator, dtype=torch.float32).to(device, dtype)
    scheduler.set_timesteps(settings.num_inference_steps, device=device)
    timesteps = scheduler.timesteps
    if len(timesteps) != settings.num_inference_steps:
        raise ValueError(f"{type(scheduler).__name__} calls the UNet {len(timesteps)} times for "
                         f"{settings.num_inference_steps} steps; the per-step tracks need one call per step (use "
                         "DDIMScheduler, the official choice)")
    latents = latents * scheduler.init_noise_sigma
    cond, uncond = cond.to(device, dtype), uncond.to(device, dtype)
    for name, embeds in (("cond", cond), ("uncond", uncond)):
        if embeds.shape[0] not in (1, n):
            raise ValueError(f"generate: {name} embeddings have batch {embeds.shape[0]}; give 1 (shared by the {n} "
                             f"generations) or {n}")
    if capture is not None:
        if eos is None:
            raise ValueError("generate: a capture needs the prompt's EOS column (attention.eos_index)")
        capture.start(eos, len(timesteps))
    text_norms, uncond_norms, masked_norms, differences = [], [], [], []
    step_kwargs = _step_kwargs(scheduler, settings.eta)
    for i, t in enumerate(timesteps):
        if before_step is not None:
            with torch.enable_grad():
                cond = before_step(i, t, latents, cond, uncond).detach().to(device, dtype)
        model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
        text_batch = torch.cat([uncond.expand(n, -1, -1), cond.expand(n, -1, -1)])
        if capture is not None:
            with capture.at_step(i):
                eps = unet(model_input, t, encoder_hidden_states=text_batch, return_dict=False)[0]
        else:
            eps = unet(model_input, t, encoder_hidden_states=text_batch, return_dict=False)[0]
        eps_u, eps_c = eps.chunk(2)
        text = eps_c - eps_u
        text_norms.append(text.float().flatten(1).norm(dim=1))
        uncond_norms.append(eps_u.float().flatten(1).norm(dim=1))
        if mask is not None:
            masked_norms.append(masked_text_noise_norm(text, torch.zeros_like(text), mask.to(device)))
        if keep_differences:
            differences.append(text)
        latents = scheduler.step(eps_u + settings.guidance_scale * text, t, latents, **step_kwargs,
                                 return_dict=False)[0]
    images = decode(model, latents)
    eos_map = capture.eos_map(shape[2], shape[3])[:, 0].cpu() if capture is not None else None
    return Generation(images=images, text_noise_norm=torch.stack(text_norms, 1).cpu(),
                      uncond_noise_norm=torch.stack(uncond_norms, 1).cpu(),
                      masked_noise_norm=torch.stack(masked_norms, 1).cpu() if mask is not None else None,
                      eos_map=eos_map, differences=torch.stack(differences) if keep_differences else None)


def decode(model: TextToImageModel, latents: torch.Tensor) -> torch.Tensor:
    """uint8 images (n, H, W, 3): through the VAE (``latents / scaling_factor``), or the samples themselves in pixel
    space."""
    if model.vae is None:
        return to_uint8(latents).cpu()
    vae = model.vae
    images = vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]
    return to_uint8(images).cpu()


def masked_tracks(differences: torch.Tensor, eos_map: torch.Tensor) -> torch.Tensor:
    """BE's m′ per generation and step (n, steps) from kept differences (steps, n, C, h, w) and the map (n, h, w):
    what the official second pass records, without regenerating."""
    mask = eos_map[:, None].to(differences.device)
    zeros = torch.zeros_like(differences[0])
    return torch.stack([masked_text_noise_norm(d, zeros, mask) for d in differences], 1).cpu()
