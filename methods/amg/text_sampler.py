"""AMG's text-conditional sampler: DDIM (η = 0) with classifier-free guidance and the three anti-memorization
terms, per step as AMG-sd's ``DDIMSampler.p_sample_ddim`` applies them (``ldm/models/diffusion/ddim.py`` with
``cond_fn`` of ``scripts/txt2img.py``), on diffusers components (:class:`TextToImageModel`).

One step at original timestep t, per sample (ε_∅, ε_y from the CFG batch; s₀ the CFG scale):

1. ε = ε_∅ + s₀(ε_y − ε_∅); σ₁, n₀, y_N = sim(x_t, ε) (:func:`guided_similarity`: x̂₀ = (x_t − √(1−ᾱ_t)ε)/√ᾱ_t,
   decoded, against the reference index). A duplicated caption, once found, is kept for the rest of the sample.
2. Only if σ₁ > 0 (the code's gate; despecification then applies whatever λ_t is, as in the code):
   s₁ = clip(c₁σ₁, 0, s₀ − 1) (0 with G_spe off). If G_dup is on and (y_N is known and σ₁ > λ_t, or the 10-step
   countdown runs): s₂ = clip((s₀ − 1 − s₁)/c₂·σ₁, 0, s₀ − 1 − s₁), the UNet runs on [∅, y, y_N] and
   ε = ε_∅ + (s₀ − s₁)(ε_y − ε_∅) + s₂(ε_∅ − ε_{y_N}); otherwise ε = ε_∅ + (s₀ − s₁)(ε_y − ε_∅) from the CFG pass.
   Then σ₂, ∇_{x_t}σ₂ = sim(x_t, ε) with the new ε; with G_sim on and σ₂ > λ_t,
   ε ← ε + √(1−ᾱ_t)·c₃·(σ₂ − 0.3)·exp((1000 − t)/170)·∇σ₂.
3. The DDIM step with ε (the model's scheduler, a ``DDIMScheduler``, η = 0).

λ_t is :class:`ThresholdSchedule` at the original timestep (981, 961, …, 1 for 50 steps). Deliberate differences
from the official code, each for a reason:

- no ``base_count > 20`` gate: the code guides only once its output folder holds more than 20 files, so the first 21
  images of a fresh folder are unguided; here every sample is guided;
- σ₂ is computed only when it is used (G_sim on, or the deduplication branch ran, whose second ``cond_fn`` call
  may update the kept caption as in the code); otherwise ``similarity_after`` is NaN. With all three terms off (or no
  guide) the guide is never called and the loop is plain DDIM + CFG, image for image;
- samples of a batch share UNet and guide calls where the logic does not branch (the code runs one at a time);
- ``decoded_range="unit"`` maps the decoded image to [0, 1] ((x + 1)/2, unclamped) before the similarity; the code
  (``"raw"``, the default) feeds the raw decoder output to CLIP and SSCD.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from bench.methods.amg.guidance import (CaptionCountdown, ThresholdSchedule, combine_noise, deduplication_scale,
                                        despecification_scale, text_dissimilarity_weight)
from bench.methods.amg.similarity import Guide, SimilarityResult
from bench.methods.bright_ending.sampling import decode, encode_prompts
from bench.methods.diffusion.stable_diffusion import TextToImageModel

DECODED_RANGES = ("raw", "unit")


@dataclass(frozen=True)
class TextGuidanceSettings:
    """The official text-branch settings (AMG-sd README command and ``p_sample_ddim`` constants) as knobs.

    ``c1`` = 6.5/0.5 (despecification), ``c2`` = 0.3 (deduplication), ``c3`` = ``--guidance_scale`` (dissimilarity;
    100 in the README; the paper's Main vs Strong values are not published), ``countdown`` the deduplication's
    ``g3_count``, ``neighbours`` the kNN size, ``dup_caption_min_count`` the official ``> 20``, ``offset`` and
    ``decay`` the dissimilarity weight's (σ − 0.3)·exp((1000 − t)/170)."""

    cfg_scale: float = 7.5
    num_inference_steps: int = 50
    g_spe: bool = True
    g_dup: bool = True
    g_sim: bool = True
    c1: float = 13.0
    c2: float = 0.3
    c3: float = 100.0
    schedule: ThresholdSchedule = field(default_factory=ThresholdSchedule)
    countdown: int = 10
    neighbours: int = 1000
    dup_caption_min_count: int = 21
    offset: float = 0.3
    decay: float = 170.0
    decoded_range: str = "raw"

    def __post_init__(self) -> None:
        for name in ("num_inference_steps", "countdown", "neighbours", "dup_caption_min_count"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TextGuidanceSettings: {name} must be a positive int, got {value!r}")
        if self.decoded_range not in DECODED_RANGES:
            raise ValueError(f"TextGuidanceSettings: decoded_range must be one of {DECODED_RANGES}, got "
                             f"{self.decoded_range!r}")
        if not isinstance(self.schedule, ThresholdSchedule) or not self.schedule.above:
            raise ValueError("TextGuidanceSettings: schedule must be a ThresholdSchedule with above=True (the text "
                             "branch guides while SSCD σ > λ_t)")
        if self.c2 <= 0:
            raise ValueError(f"TextGuidanceSettings: c2 must be > 0 (it divides), got {self.c2}")

    @property
    def any_term(self) -> bool:
        return self.g_spe or self.g_dup or self.g_sim


@dataclass
class TextAMGResult:
    """uint8 images [B, H, W, 3]; σ₁ / σ₂ per sample and step [B, steps] (NaN where not computed); per-sample counts
    of steps with despecification (s₁ > 0), caption deduplication and dissimilarity applied; the duplicated caption
    kept at the end (None if none was found); n₀ of the last similarity computed (−1 if none)."""

    images: torch.Tensor
    similarity_before: torch.Tensor
    similarity_after: torch.Tensor
    spe_steps: torch.Tensor
    dup_steps: torch.Tensor
    sim_steps: torch.Tensor
    dup_caption: list[str | None]
    neighbour: torch.Tensor


def guided_similarity(model: TextToImageModel, guide: Guide, latents: torch.Tensor, eps: torch.Tensor,
                      alpha_bar: float, settings: TextGuidanceSettings,
                      with_grad: bool) -> tuple[SimilarityResult, torch.Tensor | None]:
    """The code's ``cond_fn``: σ of x̂₀ = (x_t − √(1−ᾱ_t)·ε)/√ᾱ_t (ε detached) decoded through the VAE
    (``x̂₀ / scaling_factor``; pixel space: x̂₀ itself), and ∇_{x_t}σ [B, C, h, w] when ``with_grad`` (else None)."""
    # the runner samples under torch.inference_mode: leave it (and clone its tensors) for the gradient
    with torch.inference_mode(False), torch.enable_grad() if with_grad else torch.no_grad():
        x_t = latents.detach().clone().requires_grad_(with_grad)
        x0 = (x_t - math.sqrt(1.0 - alpha_bar) * eps.detach().clone()) / math.sqrt(alpha_bar)
        if model.vae is None:
            images = x0
        else:
            vae = model.vae
            images = vae.decode(x0.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]
        if settings.decoded_range == "unit":
            images = images / 2 + 0.5
        result = guide(images, settings.neighbours, settings.dup_caption_min_count)
        grad = torch.autograd.grad(result.similarity.sum(), x_t)[0] if with_grad else None
    return SimilarityResult(result.similarity.detach().float().cpu(), result.neighbour.cpu(),
                            result.dup_caption), grad


@torch.no_grad()
def generate_text_amg(model: TextToImageModel, prompts: list[str], latents: torch.Tensor,
                      settings: TextGuidanceSettings, guide: Guide | None,
                      prompt_embeds: torch.Tensor | None = None) -> TextAMGResult:
    """Sample ``prompts`` from ``latents`` [B, C, h, w] with AMG (module docstring); ``prompt_embeds`` [B, L, d]
    replaces the encoded prompts (GNI perturbs them). ``guide`` None, or all terms off: plain DDIM + CFG."""
    unet, scheduler = model.unet, model.scheduler
    _require_ddim(scheduler)
    count = latents.shape[0]
    if len(prompts) != count:
        raise ValueError(f"generate_text_amg: {len(prompts)} prompts for {count} latents (give one per sample)")
    device, dtype = unet.device, unet.dtype
    cond = encode_prompts(model, list(prompts)) if prompt_embeds is None else prompt_embeds
    if cond.shape[0] != count:
        raise ValueError(f"generate_text_amg: prompt_embeds has batch {cond.shape[0]}, expected {count}")
    cond = cond.to(device, dtype)
    uncond = encode_prompts(model, [""]).to(device, dtype).expand(count, -1, -1)
    caption_embeds: dict[str, torch.Tensor] = {}

    scheduler.set_timesteps(settings.num_inference_steps, device=device)
    timesteps = scheduler.timesteps
    steps = len(timesteps)
    latents = latents.to(device, dtype) * scheduler.init_noise_sigma
    guided = guide is not None and settings.any_term
    before = torch.full((count, steps), math.nan)
    after = torch.full((count, steps), math.nan)
    spe_steps, dup_steps, sim_steps = (torch.zeros(count, dtype=torch.long) for _ in range(3))
    neighbour = torch.full((count,), -1, dtype=torch.long)
    kept: list[str | None] = [None] * count
    countdowns = [CaptionCountdown(settings.countdown) for _ in range(count)]
    s0 = settings.cfg_scale

    for i, t in enumerate(timesteps):
        model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
        eps_u, eps_p = unet(model_input, t, encoder_hidden_states=torch.cat([uncond, cond]),
                            return_dict=False)[0].chunk(2)
        eps = eps_u + s0 * (eps_p - eps_u)
        if guided:
            assert guide is not None
            eps = _amg_step(model, guide, settings, i, int(t), latents, eps, eps_u, eps_p, uncond, cond,
                            caption_embeds, kept, countdowns, before, after, spe_steps, dup_steps, sim_steps,
                            neighbour)
        latents = scheduler.step(eps, t, latents, eta=0.0, return_dict=False)[0]
    return TextAMGResult(images=decode(model, latents), similarity_before=before, similarity_after=after,
                         spe_steps=spe_steps, dup_steps=dup_steps, sim_steps=sim_steps, dup_caption=kept,
                         neighbour=neighbour)


def _require_ddim(scheduler: Any) -> None:
    from diffusers import DDIMScheduler

    if not isinstance(scheduler, DDIMScheduler):
        raise ValueError(f"generate_text_amg: AMG's loop is DDIM (eta = 0); the model's scheduler is "
                         f"{type(scheduler).__name__} (load the folder with scheduler='DDIMScheduler')")


def _amg_step(model: TextToImageModel, guide: Guide, settings: TextGuidanceSettings, i: int, t: int,
              latents: torch.Tensor, eps: torch.Tensor, eps_u: torch.Tensor, eps_p: torch.Tensor,
              uncond: torch.Tensor, cond: torch.Tensor, caption_embeds: dict[str, torch.Tensor],
              kept: list[str | None], countdowns: list[CaptionCountdown], before: torch.Tensor, after: torch.Tensor,
              spe_steps: torch.Tensor, dup_steps: torch.Tensor, sim_steps: torch.Tensor,
              neighbour: torch.Tensor) -> torch.Tensor:
    """The guided ε of one step (module docstring, steps 1-2); updates the per-sample records in place."""
    alpha_bar = float(model.scheduler.alphas_cumprod[t])
    threshold = settings.schedule.value(t)
    s0 = settings.cfg_scale
    first, _ = guided_similarity(model, guide, latents, eps, alpha_bar, settings, with_grad=False)
    before[:, i] = first.similarity
    neighbour[:] = first.neighbour
    for b, caption in enumerate(first.dup_caption):
        if caption is not None:
            kept[b] = caption
    active = [b for b in range(len(kept)) if first.similarity[b] > 0]  # the code's `simscore1 > 0` gate
    if not active:
        return eps
    sigma1 = first.similarity
    despec = (despecification_scale(sigma1, s0, settings.c1) if settings.g_spe else torch.zeros_like(sigma1))
    dedup_rows = []
    for b in active:
        triggered = kept[b] is not None and float(sigma1[b]) > threshold
        if settings.g_dup and (triggered or countdowns[b].active):
            countdowns[b].step(triggered)
            dedup_rows.append(b)
    eps = eps.clone()
    plain_rows = [b for b in active if b not in dedup_rows]
    if plain_rows:
        rows = torch.tensor(plain_rows, device=eps.device)
        eps[rows] = combine_noise(eps_u[rows], eps_p[rows], s0, despec[plain_rows].to(eps.device))
    if dedup_rows:
        rows = torch.tensor(dedup_rows, device=eps.device)
        captions = []
        for b in dedup_rows:
            caption = kept[b]
            assert caption is not None  # the countdown only starts on a known caption, and a kept one stays
            if caption not in caption_embeds:
                caption_embeds[caption] = encode_prompts(model, [caption]).to(cond.device, cond.dtype)
            captions.append(caption_embeds[caption])
        x = latents[rows]
        text = torch.cat([uncond[rows], cond[rows], torch.cat(captions)])
        model_input = model.scheduler.scale_model_input(torch.cat([x] * 3), t)
        e_u, e_p, e_cap = model.unet(model_input, t, encoder_hidden_states=text, return_dict=False)[0].chunk(3)
        s1 = despec[dedup_rows]
        s2 = deduplication_scale(sigma1[dedup_rows], s0, s1, settings.c2)
        eps[rows] = combine_noise(e_u, e_p, s0, s1.to(eps.device), e_cap, s2.to(eps.device))
        dup_steps[dedup_rows] += 1
    if settings.g_spe:
        spe_steps[[b for b in active if float(despec[b]) > 0]] += 1

    second_rows = active if settings.g_sim else dedup_rows
    if not second_rows:
        return eps
    rows = torch.tensor(second_rows, device=eps.device)
    second, grad = guided_similarity(model, guide, latents[rows], eps[rows], alpha_bar, settings,
                                     with_grad=settings.g_sim)
    after[second_rows, i] = second.similarity
    neighbour[second_rows] = second.neighbour
    for k, b in enumerate(second_rows):
        if b in dedup_rows and second.dup_caption[k] is not None:  # the code updates it after its 2nd call there only
            kept[b] = second.dup_caption[k]
    if settings.g_sim and grad is not None:
        passing = [k for k in range(len(second_rows)) if float(second.similarity[k]) > threshold]
        if passing:
            sigma2 = second.similarity[passing]
            weight = text_dissimilarity_weight(sigma2, torch.full_like(sigma2, float(t)),
                                               torch.full_like(sigma2, math.sqrt(1.0 - alpha_bar)), settings.c3,
                                               settings.offset, settings.decay)
            targets = torch.tensor([second_rows[k] for k in passing], device=eps.device)
            eps[targets] = eps[targets] + weight.to(eps.device, eps.dtype).view(-1, 1, 1, 1) * grad[passing].to(
                eps.dtype)
            sim_steps[[second_rows[k] for k in passing]] += 1
    return eps
