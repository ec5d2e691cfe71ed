"""Inference-time mitigation pieces of Wen et al. (ICLR 2024) and Bright Ending (ICLR 2025) as pure functions that a
sampler calls: Wen's prompt-embedding optimisation with the plain or BE's masked loss, the prompt augmentations
RNA / RT / CWR (Somepalli et al. 2023b, via Wen's ``optim_utils.py``) and GNI (Gaussian noise on the text
embedding, BE-PRSS ``inference_mem_gni.py``).

Official semantics (``YuxinWenRick/diffusion_memorization`` at c8fe471, ``chenchen-usyd/BE-PRSS`` at fb2e942):

* ``local_sd_pipeline.py`` ``aug_prompt`` (Wen 473-662, BE 538-747): run the plain sampler up to the target step;
  there take the conditional row of the CFG embedding batch (``prompt_embeds[[-1]]``, one (1, 77, 768) tensor shared
  by the n generations) as the only leaf, the unconditional row as a constant, and AdamW(lr) on it with torch's
  default weight decay 0.01. Per iteration: one UNet call on the CFG batch [x_t]×2 (``scale_model_input`` applied)
  with [uncond×n, cond×n]; loss = ``torch.norm(ε_c − ε_u)`` over the whole (n, 4, 64, 64) batch (one L2 norm, not a
  mean of per-generation norms); BE (``attn_mask`` given, BE 687-691) uses ‖(ε_c − ε_u) ⊙ M‖₂ / mean(M) with both
  the norm and the mean over the whole batch. If the loss is ≤ ``target_loss`` the loop stops before stepping;
  otherwise the gradient row 0 (BOS) is zeroed and AdamW steps. At most ``optim_iters`` steps; the loss after the
  last step is never evaluated. The function returns at the first target step reached (a list of several steps
  never runs twice) and the caller regenerates from the same x_T (``set_random_seed(seed)`` before both calls,
  ``inference_mem.py`` Wen 91-111, BE 94-122) with the optimised embedding at every step.
* CLI defaults (Wen ``inference_mem.py`` 257-260, BE 235-238): step 0, lr 0.05, 10 iterations, target loss None
  (= no mitigation); READMEs: Wen ``--optim_target_loss 3`` with 4 images, BE ``1`` with 1 image. Both run the whole
  pipeline in bfloat16 weights (``torch_dtype=torch.bfloat16``), no autocast.
* ``optim_utils.py`` ``prompt_augmentation`` / ``insert_rand_word`` (Wen 31-54, identical in BE): for each of
  ``repeat_num`` insertions draw with numpy's global RNG, then insert at ``random.randint(0, len(words))`` (Python's
  global RNG) into ``prompt.split(" ")``; RNA draws ``np.random.choice(100000)``, RT decodes one token id
  ``np.random.randint(49400)`` with the pipeline's CLIP tokenizer, CWR draws ``np.random.choice`` from the
  *original* prompt's words. Seeded once per run (``set_random_seed(gen_seed)``: numpy seed+3, random seed+5), so a
  prompt's augmentation depends on every earlier prompt's.
* ``inference_mem_gni.py`` 19-22, 66-75: ``_encode_prompt(...) + rand_noise_lam * randn_like(...)``: i.i.d. noise
  of std ``--rand_noise_lam`` (no default) on every position (BOS and padding included) of the whole CFG batch,
  unconditional half included, one draw per generation call from the global torch RNG.

Differences from the official code:

* The optimisation is one function for one denoising step; the sampler decides the step and regenerates.
* The loss is taken in float32 from the UNet's output (official: the bf16 norm, rounded to bf16 before the
  comparison with the target; BE's masked loss was already float32 because its mask is); the stopping decision can
  differ only for a loss within bf16 rounding (0.4 %) of the target.
* Precision: with a UNet whose weights are in ``dtype`` (the official setting) inputs are cast to it, as the
  official; with float32 weights and ``dtype="bfloat16"`` the UNet runs under ``torch.autocast(bfloat16)``, which
  is not bit-identical to bf16 weights (autocast keeps some ops in float32); other mixes (float16 weights) are an
  error. The leaf and AdamW's state are in ``dtype`` either way. The record names the path taken.
* The BOS row is restored after every step. The official zeroes its gradient but AdamW's decoupled weight decay
  still multiplies it by (1 − lr·wd) per step; in the official bf16 that product always rounds back to the same
  value (0.05 % < half a bf16 ulp), so this matches the official bit for bit in bf16 and freezes BOS as intended in
  float32. The returned BOS row is the input's, in the input's dtype.
* A non-finite loss raises instead of propagating NaN; a generation whose mask has mean 0 is an error (the official
  divides by the batch's mean); the ``print_optim`` / ``optim_epsilon`` (L2 leash, off in every official run)
  options are not offered. Zeroing BOS's gradient is kept as the official does, though restoring the row makes it
  unobservable (AdamW is elementwise).
* Augmentations take explicit RNGs: one ``random.Random`` for everything (per-prompt seeding) or, to reproduce the
  official two-stream draws exactly, a ``numpy.random.RandomState`` for the draws (``RandomState.randint(0, k)``
  consumes the stream exactly like ``choice(k)`` and ``randint(k, size=1)``). RT's vocabulary is the list
  :func:`rt_vocabulary` decodes once (the official decodes one id per draw); special tokens are left out, which
  changes nothing for CLIP (its specials are ids 49406 and 49407, above the official 49400).
* GNI draws float32 noise from an explicit generator and rounds once to the embedding's dtype (official: bf16
  noise, bf16 product and sum, three roundings).
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bench.methods.bright_ending.magnitude import masked_text_noise_norm, text_noise_norm

OPTIMIZATION_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}
# Names in the official ``--prompt_aug_style`` and the paper's row labels.
AUGMENTATION_STYLES = {"rand_numb_add": "RNA", "rand_word_add": "RT", "rand_word_repeat": "CWR"}
RNA_NUMBER_RANGE = 100000  # optim_utils.py: np.random.choice(100000)
RT_TOKEN_RANGE = 49400  # optim_utils.py: np.random.randint(49400); CLIP's specials (49406, 49407) lie above it


@dataclass(frozen=True)
class PromptOptimization:
    """Wen's inference-time prompt-embedding optimisation (defaults: the official CLI and BE's README).

    Args:
        lr: AdamW learning rate (``--optim_lr`` 0.05).
        iters: the most AdamW steps (``--optim_iters`` 10); 0 returns the embedding untouched.
        target_loss: stop as soon as the loss is ≤ this (BE README ``--optim_target_loss 1``; Wen's README uses 3
            with 4 images); None runs all ``iters`` steps (``aug_prompt``'s own default).
        target_step: the denoising step index at which the sampler optimises (``--optim_target_steps`` 0). The
            official wraps it in a list but returns at the first step reached, so it is one step.
        dtype: precision of the leaf, AdamW's state and the UNet call (the official runs all of it in bfloat16).
        weight_decay: AdamW's decoupled weight decay (torch's default 0.01, which the official leaves in place).
    """

    lr: float = 0.05
    iters: int = 10
    target_loss: float | None = 1.0
    target_step: int = 0
    dtype: str = "bfloat16"
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"PromptOptimization: lr must be a finite number > 0, got {self.lr!r} (official 0.05)")
        if isinstance(self.iters, bool) or not isinstance(self.iters, int) or self.iters < 0:
            raise ValueError(f"PromptOptimization: iters must be an integer >= 0, got {self.iters!r} (official 10)")
        if self.target_loss is not None and not math.isfinite(self.target_loss):
            raise ValueError(f"PromptOptimization: target_loss must be finite or None, got {self.target_loss!r}")
        if isinstance(self.target_step, bool) or not isinstance(self.target_step, int) or self.target_step < 0:
            raise ValueError(f"PromptOptimization: target_step must be a denoising step index >= 0, got "
                             f"{self.target_step!r} (official 0, the first step)")
        if self.dtype not in OPTIMIZATION_DTYPES:
            raise ValueError(f"PromptOptimization: dtype {self.dtype!r} is not one of "
                             f"{', '.join(OPTIMIZATION_DTYPES)} (the official code runs bfloat16)")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"PromptOptimization: weight_decay must be finite and >= 0, got {self.weight_decay!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return OPTIMIZATION_DTYPES[self.dtype]


def optimization_loss(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, mask: torch.Tensor | None = None) \
        -> torch.Tensor:
    """The official optimisation loss, one float32 scalar for the n generations together: ‖ε_c − ε_u‖₂ over the
    whole (n, C, H, W) batch (Wen), or with a mask (n, 1, H, W) ‖(ε_c − ε_u) ⊙ M‖₂ / mean(M), both over the whole
    batch (BE). For n = 1 these are :func:`text_noise_norm` and :func:`masked_text_noise_norm`; for n > 1 the
    batch norm is √Σᵢ‖·‖ᵢ² of the per-generation norms. Differentiable in the noise predictions."""
    if mask is None:
        return text_noise_norm(eps_cond, eps_uncond).square().sum().sqrt()
    per_generation = masked_text_noise_norm(eps_cond, eps_uncond, mask)  # ‖D_i ⊙ M_i‖ / mean(M_i); checks M
    means = mask.float().flatten(1).mean(dim=1)
    return (per_generation * means).square().sum().sqrt() / means.mean()


def _check_optimization_inputs(latents: torch.Tensor, cond_embeds: torch.Tensor, uncond_embeds: torch.Tensor,
                               mask: torch.Tensor | None) -> None:
    if latents.ndim != 4:
        raise ValueError(f"optimize_prompt_embedding: latents must be (n, C, H, W), got {tuple(latents.shape)}")
    if cond_embeds.ndim != 3 or cond_embeds.shape[0] != 1:
        raise ValueError(f"optimize_prompt_embedding: cond_embeds must be one prompt's embedding (1, tokens, dim), "
                         f"got {tuple(cond_embeds.shape)}; the official optimises one row shared by the n "
                         "generations")
    if uncond_embeds.shape != cond_embeds.shape:
        raise ValueError(f"optimize_prompt_embedding: uncond_embeds {tuple(uncond_embeds.shape)} must have the "
                         f"conditional embedding's shape {tuple(cond_embeds.shape)}")
    if mask is not None:
        n, _, h, w = latents.shape
        if tuple(mask.shape) not in ((n, 1, h, w), (n, h, w)):
            raise ValueError(f"optimize_prompt_embedding: mask {tuple(mask.shape)} does not fit latents "
                             f"{tuple(latents.shape)}; expected ({n}, 1, {h}, {w}), one BE map per generation at "
                             "latent size")


def _precision(unet: Any, dtype: torch.dtype, device_type: str) -> tuple[Any, str]:
    """How the UNet runs in ``dtype``: its own weights when they are in ``dtype`` (the official), autocast over
    float32 weights, else an error."""
    weights = next(unet.parameters()).dtype
    name = str(dtype).removeprefix("torch.")
    if weights == dtype:
        return nullcontext(), f"{name} weights"
    have = str(weights).removeprefix("torch.")
    if dtype == torch.float32:
        raise ValueError(f"optimize_prompt_embedding: dtype float32 needs a float32 UNet, this one has {have} "
                         "weights; load the UNet in float32 or set dtype='bfloat16'")
    if weights != torch.float32:
        # e.g. float16 weights under bfloat16 autocast: CPU group norm rejects the mix, and it is neither precision
        raise ValueError(f"optimize_prompt_embedding: dtype {name} needs a UNet with {name} weights (the official "
                         f"setting) or float32 weights (then autocast), this one has {have} weights; load the UNet "
                         f"in {name} for this stage")
    return torch.autocast(device_type=device_type, dtype=dtype), f"{name} autocast over float32 weights"


def optimize_prompt_embedding(unet: Any, latents: torch.Tensor, timestep: torch.Tensor | int,
                              cond_embeds: torch.Tensor, uncond_embeds: torch.Tensor, settings: PromptOptimization,
                              mask: torch.Tensor | None = None,
                              scale_model_input: Callable[[torch.Tensor, Any], torch.Tensor] | None = None) \
        -> tuple[torch.Tensor, dict[str, Any]]:
    """Wen's prompt-embedding optimisation at one denoising step (official ``aug_prompt``; see the module docstring).

    Args:
        unet: a ``UNet2DConditionModel`` (any diffusers UNet called as ``unet(x, t, encoder_hidden_states=...)``).
        latents: x_t of the n generations of one prompt, (n, C, H, W), before ``scale_model_input``.
        timestep: the sampler's timestep t for that step.
        cond_embeds: the prompt's text embedding (1, tokens, dim): the only optimised tensor.
        uncond_embeds: the empty prompt's embedding (1, tokens, dim), held constant.
        settings: lr, iterations, target loss and precision.
        mask: None for Wen's loss ‖ε_c − ε_u‖; BE's EOS map (n, 1, H, W) for the masked loss m′.
        scale_model_input: the scheduler's ``scale_model_input(sample, t)`` (identity for DDIM); None = identity.

    Returns the optimised embedding (shape and dtype of ``cond_embeds``; BOS row 0 exactly the input's; the input
    itself, copied, when no step was taken) and ``{"losses": [loss before each step, and the one that met the target],
    "iterations": AdamW steps taken, "reached_target": bool, "precision": how the UNet ran}``.
    """
    _check_optimization_inputs(latents, cond_embeds, uncond_embeds, mask)
    dtype = settings.torch_dtype
    context, precision = _precision(unet, dtype, latents.device.type)
    n = latents.shape[0]
    losses: list[float] = []
    steps, reached = 0, False
    # The sampler may run under no_grad or inference_mode: leave both, and copy inputs that may be inference tensors.
    with torch.inference_mode(False), torch.enable_grad():
        sample = latents.detach().clone().to(dtype)
        sample = torch.cat([sample, sample])
        t = timestep.detach().clone() if isinstance(timestep, torch.Tensor) else timestep
        if scale_model_input is not None:
            sample = scale_model_input(sample, t)
        uncond = uncond_embeds.detach().clone().to(dtype).expand(n, -1, -1)
        loss_mask = None if mask is None else mask.detach().clone()
        leaf = cond_embeds.detach().clone().to(dtype).requires_grad_(True)
        bos = leaf.detach()[:, :1].clone()
        optimizer = torch.optim.AdamW([leaf], lr=settings.lr, weight_decay=settings.weight_decay)
        for _ in range(settings.iters):
            text = torch.cat([uncond, leaf.expand(n, -1, -1)])
            with context:
                eps = unet(sample, t, encoder_hidden_states=text, return_dict=False)[0]
            eps_uncond, eps_cond = eps.chunk(2)
            loss = optimization_loss(eps_cond, eps_uncond, loss_mask)
            value = loss.item()
            if not math.isfinite(value):
                raise ValueError(f"optimize_prompt_embedding: the loss became {value} after {steps} AdamW step(s) "
                                 f"(lr {settings.lr}, dtype {settings.dtype}); lower lr or use dtype='float32'")
            losses.append(value)
            if settings.target_loss is not None and value <= settings.target_loss:
                reached = True
                break
            (grad,) = torch.autograd.grad(loss, [leaf])
            grad[:, 0] = 0  # BOS: the official's learnable positions are 1..76
            leaf.grad = grad
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                leaf[:, :1] = bos  # undo weight decay on BOS (a no-op in bf16, see the module docstring)
            steps += 1
    if steps == 0:
        result = cond_embeds.detach().clone()
    else:
        result = leaf.detach().to(cond_embeds.dtype)
        result[:, :1] = cond_embeds.detach()[:, :1]
    return result, {"losses": losses, "iterations": steps, "reached_target": reached, "precision": precision}


def rt_vocabulary(tokenizer: Any, size: int = RT_TOKEN_RANGE) -> list[str]:
    """The words RT draws from: ``tokenizer.decode([i])`` for ids below ``size`` (the official 49400) and below the
    tokenizer's length, special tokens left out. Decode once per run and pass to :func:`augment_prompt`."""
    special = set(getattr(tokenizer, "all_special_ids", ()))
    words = [tokenizer.decode([i]) for i in range(min(size, len(tokenizer))) if i not in special]
    if not words:
        raise ValueError(f"rt_vocabulary: the tokenizer has no ordinary token below id {size}")
    return words


def augment_prompt(prompt: str, style: str, repeat_num: int, rng: random.Random,
                   vocabulary: Sequence[str] | None = None, numpy_rng: np.random.RandomState | None = None) -> str:
    """Somepalli et al.'s prompt augmentations as Wen's ``optim_utils.prompt_augmentation``: ``repeat_num`` times,
    draw a token, then insert it at ``rng.randint(0, len(words))`` into the space-split prompt.

    Styles: ``rand_numb_add`` (RNA) an integer in [0, 100000); ``rand_word_add`` (RT) a word of ``vocabulary``
    (:func:`rt_vocabulary` of the pipeline's tokenizer); ``rand_word_repeat`` (CWR) a word of the original prompt.
    The draws come from ``numpy_rng`` when given (``randint(0, k)``: the official numpy stream), else from ``rng``
    (``randrange(k)``); ``rng`` always gives the positions (the official Python ``random`` stream)."""
    if style not in AUGMENTATION_STYLES:
        raise ValueError(f"unknown prompt augmentation style {style!r}; the styles are "
                         + ", ".join(f"{name} ({label})" for name, label in AUGMENTATION_STYLES.items()))
    if isinstance(repeat_num, bool) or not isinstance(repeat_num, int) or repeat_num < 0:
        raise ValueError(f"augment_prompt: repeat_num must be an integer >= 0, got {repeat_num!r}")
    if style == "rand_word_add" and not vocabulary:
        raise ValueError("augment_prompt: rand_word_add (RT) draws decoded tokenizer tokens; pass "
                         "vocabulary=rt_vocabulary(pipeline.tokenizer)")

    def draw(k: int) -> int:
        return int(numpy_rng.randint(0, k)) if numpy_rng is not None else rng.randrange(k)

    words = prompt.split(" ")
    original = list(words)
    for _ in range(repeat_num):
        if style == "rand_numb_add":
            token = str(draw(RNA_NUMBER_RANGE))
        elif style == "rand_word_add":
            assert vocabulary is not None
            token = vocabulary[draw(len(vocabulary))]
        else:
            token = original[draw(len(original))]
        words.insert(rng.randint(0, len(words)), token)
    return " ".join(words)


def gaussian_noise_embedding(embeds: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """GNI (BE-PRSS ``inference_mem_gni.py``): ``embeds + std · N(0, 1)`` i.i.d. on every element, BOS and padding
    positions included. Pass the whole CFG batch [uncond×n; cond×n] as the official perturbs both halves and each
    generation's copy independently. Noise is drawn in float32 on ``generator``'s device; the sum is rounded once to
    ``embeds``' dtype."""
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std >= 0):
        raise ValueError(f"gaussian_noise_embedding: std must be a finite number >= 0, got {std!r} (the official "
                         "--rand_noise_lam)")
    noise = torch.randn(embeds.shape, generator=generator, device=generator.device, dtype=torch.float32)
    return (embeds.float() + std * noise.to(embeds.device)).to(embeds.dtype)


class PromptAugmenter:
    """The prompt-augmentation baselines (RNA / RT / CWR) for one model's tokenizer: ``augmenter(prompt, spec,
    seed)`` augments as ``spec`` says (``dict(type="prompt_augmentation", style=..., repeat_num=...)``; any other
    spec leaves the prompt as it is) from a ``random.Random(seed)``; RT's vocabulary is built once, on first use."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self._vocabulary: list[str] | None = None

    def __call__(self, prompt: str, spec: dict[str, Any] | None, seed: int) -> str:
        spec = spec or {}
        if spec.get("type") != "prompt_augmentation":
            return prompt
        if spec["style"] == "rand_word_add" and self._vocabulary is None:
            self._vocabulary = rt_vocabulary(self.tokenizer)
        return augment_prompt(prompt, spec["style"], int(spec.get("repeat_num", 1)), random.Random(seed),
                              vocabulary=self._vocabulary)
