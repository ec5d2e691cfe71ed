"""Per-sample gradient features and training residuals for diffusion data attribution (TRAK, D-TRAK, DAS).

Re-implemented from the intent of DAS ``CIFAR2/03_grad.py`` (features), ``04_eval.py`` + ``07_score.py::load_error``
(residuals) and D-TRAK ``CIFAR2/grad_unconditional.py`` (the same feature pass without per-t normalisation). The
feature of an image x0 (in [0, 1], mapped to [-1, 1] as in training) is

    φ(x0) = P · (1/|T|) Σ_{t∈T} n(∇_θ f(ε_θ(x_t, t), ε_t)),   x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε_t,

with f a model-output function (:data:`MODEL_OUTPUTS`), T the attribution timesteps (:func:`attribution_timesteps`),
n the L2 normalisation (DAS; identity for D-TRAK's ``normalize=False``), θ the selected trainable parameters and P
TRAK's random projector (:func:`build_projector`). :class:`FeatureStore` keeps φ for a dataset as a float32 memmap
keyed by every setting, resumable per chunk.

Text-conditional latent models (D-TRAK ``ArtBench{2,5}/grad_text_to_image_lora.py``: LoRA on miniSD) take a
:class:`LatentBatch` instead of images: x0 is the VAE latent (``latent_dist.mode()`` × ``scaling_factor``, the mode of
the diagonal Gaussian being its mean) and each sample's prompt embedding is passed as ``encoder_hidden_states``, so
the network is ``ε_θ(x_t, t, c)``; :func:`encode_latent_batch` builds it from images and captions.

Deviations from the official code, each also noted where it happens:

- Noise. The code seeds the *global* (CUDA) RNG with ``e_seed·1000 + t`` before every batch and draws one
  ``randn_like`` for the batch, so the sample at batch position j gets row j of that draw and the noise repeats every
  ``train_batch_size`` samples (16 in DAS ``03_grad.sh``, 52 in D-TRAK ``run_grad.sh``, 256 in ``04_eval.sh``). We keep
  that structure, keyed by the dataset position instead of the batch position: sample i gets row ``i mod
  noise_batch`` of a ``[noise_batch, C, H, W]`` draw from a CPU ``torch.Generator`` seeded ``e_seed·1000 + t``. The
  values differ from the CUDA RNG's (no CPU draw can equal them), the noise no longer depends on how we batch the
  computation (so chunked, resumed and uninterrupted runs agree), and the last partial batch gets the first rows of a
  full draw.
- ``uniform`` timesteps are ``range(0, T, T // N)`` as in the code; when N does not divide T that range has more than N
  entries and the code still divides the sum by N. We divide by the number of timesteps actually used.
- An unknown output name is an error (the code silently falls back to ``mse``).
- The code deletes ``torch.nn.functional.scaled_dot_product_attention`` for the whole process so that vmap works; we
  switch the UNet's attention modules to diffusers' classic ``AttnProcessor`` for the feature pass and restore them
  after (torch's SDPA has no vmap batching rule on CPU and falls back to a slow per-sample loop).
- Projector: the code uses ``CudaProjector`` (fast_jl). We use it on CUDA when ``fast_jl`` imports, else TRAK's
  ``BasicProjector`` on the same device, and record which one in the store's key and description (the two draw
  different matrices, so their features are never mixed).
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.io import atomic_write_json, read_json, sha256_json
from bench.runlock import run_lock
from bench.store import StoreError
from bench.suggest import suggest

OutputFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ParameterSelection = Callable[[str], bool] | None

@dataclass(frozen=True)
class LatentBatch:
    """Inputs of a text-conditional latent UNet: ``latents`` [B, C, h, w] (x0 in the model's space, already scaled)
    and ``encoder_hidden_states`` [B, L, D] (each sample's prompt embedding). Sliced like a tensor."""

    latents: torch.Tensor
    encoder_hidden_states: torch.Tensor

    def __post_init__(self) -> None:
        if self.latents.ndim != 4 or self.encoder_hidden_states.ndim != 3 or \
                len(self.latents) != len(self.encoder_hidden_states):
            raise ValueError(f"LatentBatch: latents must be [B, C, h, w] and encoder_hidden_states [B, L, D] with the "
                             f"same B, got {tuple(self.latents.shape)} and {tuple(self.encoder_hidden_states.shape)}")

    def __len__(self) -> int:
        return len(self.latents)

    def __getitem__(self, rows: slice) -> LatentBatch:
        return LatentBatch(self.latents[rows], self.encoder_hidden_states[rows])


ModelInputs = torch.Tensor | LatentBatch  # pixel images in [0, 1], or latents with prompt embeddings
ImageSource = ModelInputs | Callable[[int, int], ModelInputs]

NORM_EPS = 1e-8  # the code's ``grad_norms + 1e-8`` (features) and ``error_train_norm + 1e-8`` (residuals)
TIMESTEP_STRATEGIES = ("uniform", "cumulative")
PROJECTION_TYPES = ("normal", "rademacher")
PROJECTOR_BACKENDS = ("auto", "basic", "cuda")
# traker's BasicProjector regenerates its matrix block by block (100 columns each) on EVERY project call, which on a
# small model cost twice the gradients themselves (a toy UNet: 7.7 of 12.8 s); the blocks are kept when all of them
# fit in this many bytes (the same matrices, drawn once: the projection is unchanged)
MAX_CACHED_PROJECTION_BYTES = 1 << 30
FEATURE_FORMAT = 1  # bump when a change to this module changes stored features


def _mean(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean of every element of ε_θ (DAS's README choice; gradient = Jᵀ·1/d)."""
    return pred.mean()


def _mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The training loss: mean over elements of (ε_θ − ε)² (TRAK's output function)."""
    return F.mse_loss(pred, target)


def _mean_squared_l2_norm(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖ε_θ‖²/d (D-TRAK's choice; the code writes it as ``mse_loss(pred, zeros)``)."""
    return pred.pow(2).mean()


def _l1_norm(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖ε_θ‖₁ over all elements (the code flattens to ``[1, -1]`` first)."""
    return torch.linalg.vector_norm(pred.reshape(-1), ord=1)


def _l2_norm(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖ε_θ‖₂ over all elements."""
    return torch.linalg.vector_norm(pred.reshape(-1), ord=2)


def _linf_norm(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """max |ε_θ| over all elements."""
    return torch.linalg.vector_norm(pred.reshape(-1), ord=math.inf)


# name -> f(ε_θ(x_t, t) of one sample, ε of that sample) -> scalar, as both codes define them. ``weighted-mse`` is
# ``mse`` times the per-t weight of :func:`output_weights`, applied to the gradient in ``per_sample_features``.
MODEL_OUTPUTS: dict[str, OutputFn] = {
    "mean": _mean,
    "mse": _mse,
    "weighted-mse": _mse,
    "mean-squared-l2-norm": _mean_squared_l2_norm,
    "l1-norm": _l1_norm,
    "l2-norm": _l2_norm,
    "linf-norm": _linf_norm,
}


def check_output(output: str) -> OutputFn:
    """The output function called ``output``; an unknown name is a ValueError listing the names."""
    if output not in MODEL_OUTPUTS:
        raise ValueError(f"model output {output!r} is not one of {sorted(MODEL_OUTPUTS)}."
                         + suggest(str(output), list(MODEL_OUTPUTS)))
    return MODEL_OUTPUTS[output]


def output_weights(scheduler: Any, output: str, timesteps: Sequence[int]) -> list[float]:
    """The factor each timestep's output is multiplied by: w_t = β_t / (2 α_t (1 − ᾱ_t)) for ``weighted-mse`` (the
    ELBO weight of the ε-MSE, the code's ``weights``), 1 otherwise. With per-t normalisation a per-t constant cancels,
    so ``weighted-mse`` then gives the same features as ``mse``."""
    check_output(output)
    if output != "weighted-mse":
        return [1.0] * len(timesteps)
    # in the scheduler's float32, as the code computes them (1 − ᾱ_0 = β_0 loses ~4 digits to cancellation there)
    weights = scheduler.betas / (2 * scheduler.alphas * (1 - scheduler.alphas_cumprod))
    return [float(weights[t]) for t in timesteps]


def attribution_timesteps(strategy: str, n: int, num_train_timesteps: int = 1000) -> list[int]:
    """The timesteps the gradients are averaged over: ``uniform`` = range(0, T, T // n) (n = 10 → 0, 100, …, 900;
    more than n entries when n does not divide T, as in the code), ``cumulative`` = 0, …, n − 1."""
    if strategy not in TIMESTEP_STRATEGIES:
        raise ValueError(f"timestep strategy {strategy!r} is not one of {list(TIMESTEP_STRATEGIES)}."
                         + suggest(str(strategy), TIMESTEP_STRATEGIES))
    for name, value in (("n", n), ("num_train_timesteps", num_train_timesteps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"attribution_timesteps: {name} must be a positive integer, got {value!r}")
    if n > num_train_timesteps:
        raise ValueError(f"attribution_timesteps: n = {n} timesteps exceeds the {num_train_timesteps} training "
                         "timesteps; choose n <= num_train_timesteps")
    if strategy == "uniform":
        return list(range(0, num_train_timesteps, num_train_timesteps // n))
    return list(range(n))


def timestep_noise(t: int, positions: torch.Tensor, shape: Sequence[int], *, e_seed: int,
                   noise_batch: int) -> torch.Tensor:
    """ε_t for the samples at dataset positions ``positions``: row ``position mod noise_batch`` of one
    ``[noise_batch, *shape]`` standard-normal draw from a CPU generator seeded ``e_seed·1000 + t`` (the code's
    per-batch ``set_seeds(e_seed * 1000 + t); randn_like(batch)``, keyed by position; see the module docstring)."""
    if noise_batch < 1:
        raise ValueError(f"noise_batch must be a positive integer (the official script's batch size), got "
                         f"{noise_batch!r}")
    generator = torch.Generator().manual_seed(e_seed * 1000 + int(t))
    block = torch.randn((noise_batch, *shape), generator=generator)
    return block[positions.long().cpu() % noise_batch]


def lora_only(name: str) -> bool:
    """Parameter selection for LoRA fine-tunes (peft names its adapters ``lora_A`` / ``lora_B``)."""
    return "lora_" in name


def select_parameters(unet: nn.Module, parameters: ParameterSelection = None) -> dict[str, nn.Parameter]:
    """The trainable parameters whose gradients form the feature, in ``named_parameters`` order (the order the code
    flattens them in): all with ``requires_grad``, or those ``parameters(name)`` accepts."""
    chosen = {name: p for name, p in unet.named_parameters()
              if p.requires_grad and (parameters is None or parameters(name))}
    if not chosen:
        raise ValueError("no trainable parameter selected for the gradient features: the model has none with "
                         "requires_grad=True, or the `parameters` predicate accepts none of their names (e.g. "
                         "`lora_only` on a model without LoRA adapters)")
    return chosen


@contextlib.contextmanager
def _feature_pass(unet: nn.Module) -> Iterator[None]:
    """The UNet in eval mode (as the code's ``model.eval()``) with diffusers' classic attention processor, which
    vmap batches (SDPA has no CPU batching rule); both restored afterwards."""
    from diffusers.models.attention_processor import Attention, AttnProcessor

    attentions = [m for m in unet.modules() if isinstance(m, Attention)]
    processors = [m.processor for m in attentions]
    training = unet.training
    try:
        unet.eval()
        for module in attentions:
            module.set_processor(AttnProcessor())
        yield
    finally:
        for module, processor in zip(attentions, processors, strict=True):
            module.set_processor(processor)
        unet.train(training)


def _check_images(images: torch.Tensor, where: str) -> None:
    if images.ndim != 4 or not images.is_floating_point():
        raise ValueError(f"{where}: images must be a float tensor [B, C, H, W] in [0, 1], got "
                         f"{images.dtype} of shape {tuple(images.shape)}")
    if images.numel() and (float(images.min()) < 0 or float(images.max()) > 1):
        raise ValueError(f"{where}: images must lie in [0, 1] (they are mapped to [-1, 1] as in training), got range "
                         f"[{float(images.min()):.3g}, {float(images.max()):.3g}]; pass un-normalised images")


def _model_inputs(inputs: ModelInputs, start: int, stop: int, device: torch.device,
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """x0 of samples [start, stop) in the model's space on ``device`` (pixels mapped to [-1, 1] as in training,
    latents as they are) and their ``encoder_hidden_states`` (None for an unconditional model)."""
    if isinstance(inputs, LatentBatch):
        part = inputs[start:stop]
        return (part.latents.to(device=device, dtype=torch.float32),
                part.encoder_hidden_states.to(device=device, dtype=torch.float32))
    return inputs[start:stop].to(device=device, dtype=torch.float32) * 2 - 1, None


def _check_inputs(inputs: ModelInputs, where: str) -> None:
    if isinstance(inputs, LatentBatch):
        if not inputs.latents.is_floating_point() or not inputs.encoder_hidden_states.is_floating_point():
            raise ValueError(f"{where}: LatentBatch latents and encoder_hidden_states must be float tensors")
        return
    _check_images(inputs, where)


@torch.no_grad()
def encode_latent_batch(vae: nn.Module, tokenizer: Any, text_encoder: nn.Module, images: torch.Tensor,
                        captions: Sequence[str]) -> LatentBatch:
    """D-TRAK's ArtBench inputs: images [B, 3, H, W] in [0, 1] mapped to [-1, 1], encoded by the VAE to
    ``latent_dist.mode() · scaling_factor``; captions tokenised to the tokenizer's ``model_max_length`` (padded,
    truncated) and embedded by the text encoder (its last hidden state)."""
    _check_images(images, "encode_latent_batch")
    if len(captions) != len(images) or not all(isinstance(c, str) for c in captions):
        raise ValueError(f"encode_latent_batch: one caption string per image is needed, got {len(captions)} for "
                         f"{len(images)} images")
    device = next(vae.parameters()).device
    pixels = (images.to(device=device, dtype=torch.float32) * 2 - 1).to(next(vae.parameters()).dtype)
    latents = vae.encode(pixels).latent_dist.mode() * vae.config.scaling_factor
    ids = tokenizer(list(captions), max_length=tokenizer.model_max_length, padding="max_length", truncation=True,
                    return_tensors="pt").input_ids.to(next(text_encoder.parameters()).device)
    states = text_encoder(ids)[0]
    return LatentBatch(latents.float().cpu(), states.float().cpu())


def _targets(scheduler: Any, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the network predicts: ε, or v for a v-prediction scheduler (the code's two branches)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(x0, noise, t)
    raise ValueError(f"scheduler prediction_type {kind!r} is not supported for attribution features; expected "
                     "'epsilon' or 'v_prediction'")


def _check_timesteps(timesteps: Sequence[int], scheduler: Any) -> list[int]:
    steps = [int(t) for t in timesteps]
    total = int(scheduler.config.num_train_timesteps)
    if not steps or any(t < 0 or t >= total for t in steps):
        raise ValueError(f"timesteps must be a non-empty list in [0, {total}), got {list(timesteps)!r}; use "
                         "attribution_timesteps(strategy, n)")
    return steps


def per_sample_features(unet: nn.Module, scheduler: Any, images: ModelInputs, *, timesteps: Sequence[int],
                        output: str = "mean", e_seed: int = 0, normalize: bool = True,
                        parameters: ParameterSelection = None, chunk: int = 16, noise_batch: int = 16,
                        positions: torch.Tensor | None = None) -> torch.Tensor:
    """Flattened per-sample gradients [B, P] (float32, on the model's device) of ``output`` w.r.t. the selected
    parameters, averaged over ``timesteps`` (each per-t gradient L2-normalised first when ``normalize``).

    Args:
        images: [B, C, H, W] floats in [0, 1], or a :class:`LatentBatch` for a text-conditional latent UNet.
        timesteps: from :func:`attribution_timesteps`.
        output: a key of :data:`MODEL_OUTPUTS`.
        e_seed: noise seed; ε_t is seeded ``e_seed·1000 + t`` (:func:`timestep_noise`).
        normalize: DAS's per-t L2 normalisation (D-TRAK: False).
        parameters: None (all trainable) or a predicate on parameter names (e.g. :func:`lora_only`).
        chunk: samples per vmap call (memory only; the result does not depend on it beyond float rounding).
        noise_batch: the official script's batch size, whose noise pattern repeats (DAS 16, D-TRAK 52).
        positions: dataset positions of ``images`` (default 0..B−1), which choose each sample's noise row.
    """
    from torch.func import functional_call, grad, vmap

    output_fn = check_output(output)
    steps = _check_timesteps(timesteps, scheduler)
    _check_inputs(images, "per_sample_features")
    if chunk < 1:
        raise ValueError(f"per_sample_features: chunk must be a positive integer, got {chunk!r}")
    positions = torch.arange(len(images)) if positions is None else positions
    if len(positions) != len(images):
        raise ValueError(f"per_sample_features: {len(positions)} positions for {len(images)} images")
    selected = select_parameters(unet, parameters)
    params = {name: p.detach() for name, p in selected.items()}
    constants: dict[str, torch.Tensor] = {name: p.detach() for name, p in unet.named_parameters()
                                          if name not in params}
    constants.update({name: b.detach() for name, b in unet.named_buffers()})
    weights = output_weights(scheduler, output, steps)
    device = next(iter(params.values())).device

    def f(theta: dict[str, torch.Tensor], x_t: torch.Tensor, t: torch.Tensor, target: torch.Tensor,
          context: torch.Tensor | None) -> torch.Tensor:
        kwargs = {"timestep": t[None]} if context is None else {"timestep": t[None],
                                                                "encoder_hidden_states": context[None]}
        pred = functional_call(unet, (theta, constants), (x_t[None],), kwargs).sample.float()
        return output_fn(pred[0], target.float())

    blocks = []
    with _feature_pass(unet):
        for start in range(0, len(images), chunk):
            x0, context = _model_inputs(images, start, start + chunk, device)
            sample_grads = vmap(grad(f), in_dims=(None, 0, 0, 0, None if context is None else 0))
            rows = positions[start:start + chunk]
            total: torch.Tensor | None = None
            for t, weight in zip(steps, weights, strict=True):
                noise = timestep_noise(t, rows, x0.shape[1:], e_seed=e_seed, noise_batch=noise_batch).to(device)
                t_batch = torch.full((len(x0),), t, dtype=torch.long, device=device)
                x_t = scheduler.add_noise(x0, noise, t_batch)
                g = sample_grads(params, x_t, t_batch, _targets(scheduler, x0, noise, t_batch), context)
                flat = torch.cat([g[name].reshape(len(x0), -1) for name in params], dim=1) * weight
                if normalize:
                    flat = flat / (flat.norm(dim=1, keepdim=True) + NORM_EPS)
                total = flat if total is None else total + flat
            assert total is not None
            blocks.append(total / len(steps))  # the code divides by N even when the range has more steps
    return torch.cat(blocks).float()


@dataclass
class Projector:
    """One of TRAK's projectors with the settings it was built with; ``project(grads)`` maps [B, P] to [B, k]."""

    projector: Any
    grad_dim: int
    k: int
    seed: int
    proj_type: str
    model_id: int
    implementation: str
    device: str
    note: str = ""
    blocks: list[torch.Tensor] | None = None  # BasicProjector's blocks, drawn once (see cache_blocks)

    def cache_blocks(self, max_bytes: int = MAX_CACHED_PROJECTION_BYTES) -> bool:
        """Keep a multi-block BasicProjector's blocks, drawn once from its own per-block generator states, when they
        fit in ``max_bytes``: :meth:`project` then multiplies by the same matrices without redrawing them per call.
        Returns whether the blocks are cached."""
        projector = self.projector
        num_blocks = getattr(projector, "num_blocks", 1)
        if self.implementation != "trak.BasicProjector" or num_blocks == 1:
            return False  # CudaProjector draws on the fly; one block is already kept by traker itself
        size = self.grad_dim * projector.block_size * num_blocks * torch.finfo(projector.dtype).bits // 8
        if size > max_bytes:
            return False
        if projector.model_id != self.model_id:  # traker re-derives its states for another model_id
            projector.model_id = self.model_id
            projector.get_generator_states()
        blocks = []
        for index in range(num_blocks):
            projector.generate_sketch_matrix(projector.generator_states[index])
            width = min(projector.block_size, self.k - index * projector.block_size)
            blocks.append(projector.proj_matrix[:, :width].clone())
        self.blocks = blocks
        return True

    def project(self, grads: torch.Tensor) -> torch.Tensor:
        if grads.ndim != 2 or grads.shape[1] != self.grad_dim:
            raise ValueError(f"projector expects gradients [B, {self.grad_dim}], got {tuple(grads.shape)}")
        grads = grads.to(device=self.device, dtype=torch.float32)
        if self.blocks is not None:  # traker's own block loop, with the blocks drawn once
            return torch.cat([grads @ block for block in self.blocks], dim=1)
        out = self.projector.project(grads, model_id=self.model_id)
        return out.float()

    def describe(self) -> dict[str, Any]:
        """What decides the projection matrix (the store hashes it): implementation, device type, seed, type, k."""
        return {"implementation": self.implementation, "device": torch.device(self.device).type,
                "grad_dim": self.grad_dim, "k": self.k, "seed": self.seed, "proj_type": self.proj_type,
                "model_id": self.model_id, "note": self.note}


def build_projector(grad_dim: int, k: int, seed: int = 42, device: str | torch.device = "cpu", model_id: int = 0,
                    proj_type: str = "normal", backend: str = "auto") -> Projector:
    """TRAK's random projector from ``grad_dim`` to ``k`` (the code: normal, seed 42, model_id 0).

    ``backend``: ``basic`` = ``trak.projectors.BasicProjector`` on ``device``; ``cuda`` = ``CudaProjector`` (needs a
    CUDA device and the ``fast_jl`` extension, else a ValueError saying how to install it); ``auto`` = ``cuda`` where
    both are there, else ``basic`` with the reason in ``note``. Different implementations (and the basic one on CPU
    vs CUDA) draw different matrices; :meth:`Projector.describe` records which one was used."""
    from trak.projectors import BasicProjector, CudaProjector, ProjectionType

    if backend not in PROJECTOR_BACKENDS:
        raise ValueError(f"projector backend {backend!r} is not one of {list(PROJECTOR_BACKENDS)}")
    if proj_type not in PROJECTION_TYPES:
        raise ValueError(f"projection type {proj_type!r} is not one of {list(PROJECTION_TYPES)}")
    for name, value in (("grad_dim", grad_dim), ("k", k)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"build_projector: {name} must be a positive integer, got {value!r}")
    device = torch.device(device)
    note = ""
    use_cuda = False
    if backend != "basic":
        if device.type != "cuda":
            problem = f"the device is {device.type}, not cuda"
        else:
            try:
                import fast_jl  # noqa: F401  (TRAK's CUDA projection kernels)
                problem = ""
            except ImportError:
                problem = "fast_jl is not installed"
        if problem and backend == "cuda":
            raise ValueError(f"CudaProjector unavailable: {problem}. It needs a CUDA device and TRAK's fast_jl "
                             "kernels (`pip install traker[fast]`, built against your CUDA toolkit), or use "
                             "backend='basic' (a different projection matrix)")
        use_cuda = not problem
        note = "" if use_cuda else f"BasicProjector used: {problem}"
    ptype = ProjectionType(proj_type)
    if use_cuda:
        projector = CudaProjector(grad_dim=grad_dim, proj_dim=k, seed=seed, proj_type=ptype, device=device,
                                  max_batch_size=32)
        implementation = "trak.CudaProjector"
    else:
        projector = BasicProjector(grad_dim=grad_dim, proj_dim=k, seed=seed, proj_type=ptype, device=device,
                                   model_id=model_id)
        implementation = "trak.BasicProjector"
    built = Projector(projector, grad_dim, k, seed, proj_type, model_id, implementation, str(device), note)
    built.cache_blocks()
    return built


def timestep_losses(unet: nn.Module, scheduler: Any, images: ModelInputs, *, timesteps: Sequence[int],
                    e_seed: int = 0, noise_batch: int = 256, batch_size: int = 256,
                    positions: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample diffusion losses [B, |timesteps|] (float32, CPU): the mean over elements of (ε_θ(x_t, t) − ε_t)²
    with the fixed noise of :func:`timestep_noise` (``04_eval.py``; its batch size 256 is ``noise_batch``); ``images``
    may be a :class:`LatentBatch` (the loss in latent space, conditioned on each prompt)."""
    steps = _check_timesteps(timesteps, scheduler)
    _check_inputs(images, "timestep_losses")
    positions = torch.arange(len(images)) if positions is None else positions
    device = next(unet.parameters()).device
    rows = []
    with _feature_pass(unet), torch.no_grad():
        for start in range(0, len(images), batch_size):
            x0, context = _model_inputs(images, start, start + batch_size, device)
            where = positions[start:start + batch_size]
            kwargs = {} if context is None else {"encoder_hidden_states": context}
            per_t = []
            for t in steps:
                noise = timestep_noise(t, where, x0.shape[1:], e_seed=e_seed, noise_batch=noise_batch).to(device)
                t_batch = torch.full((len(x0),), t, dtype=torch.long, device=device)
                pred = unet(scheduler.add_noise(x0, noise, t_batch), t_batch, **kwargs).sample.float()
                target = _targets(scheduler, x0, noise, t_batch).float()
                per_t.append((pred - target).pow(2).flatten(1).mean(1).cpu())
            rows.append(torch.stack(per_t, dim=1))
    return torch.cat(rows)


def train_residuals(unet: nn.Module, scheduler: Any, images: ModelInputs, *, num_timesteps: int = 1000,
                    e_seed: int = 0, noise_batch: int = 256, batch_size: int = 256,
                    positions: torch.Tensor | None = None) -> torch.Tensor:
    """DAS's per-training-sample residual r_i [B] (float32): with l_{i,t} the loss of :func:`timestep_losses` at
    ``uniform`` timesteps (all 1000 by default), r_i = mean_t( √l_{i,t} / (‖√l_{i,·}‖₂ + 1e-8) ) (``07_score.py``
    ``load_error``: sqrt, L2-normalise across t, average)."""
    steps = attribution_timesteps("uniform", num_timesteps, int(scheduler.config.num_train_timesteps))
    roots = timestep_losses(unet, scheduler, images, timesteps=steps, e_seed=e_seed, noise_batch=noise_batch,
                            batch_size=batch_size, positions=positions).sqrt()
    return (roots / (roots.norm(dim=1, keepdim=True) + NORM_EPS)).mean(dim=1)


def module_sha256(module: nn.Module) -> str:
    """sha256 over the state dict (names, shapes, dtypes, bytes) and the diffusers config if any: the weights key."""
    digest = hashlib.sha256()
    config = getattr(module, "config", None)
    if isinstance(config, dict):
        digest.update(sha256_json(dict(config)).encode())
    for name, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tuple(data.shape)}|{data.dtype}|".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class FeatureSettings:
    """Every choice that changes a stored feature (hashed into the store's key)."""

    output: str = "mean"
    timestep_strategy: str = "uniform"
    num_timesteps: int = 10
    e_seed: int = 0
    normalize: bool = True
    k: int = 4096
    projector_seed: int = 42
    proj_type: str = "normal"
    model_id: int = 0
    noise_batch: int = 16

    def __post_init__(self) -> None:
        check_output(self.output)
        if self.timestep_strategy not in TIMESTEP_STRATEGIES:
            strategy = str(self.timestep_strategy)
            raise ValueError(f"timestep strategy {strategy!r} is not one of {list(TIMESTEP_STRATEGIES)}."
                             + suggest(strategy, TIMESTEP_STRATEGIES))
        if self.proj_type not in PROJECTION_TYPES:
            raise ValueError(f"projection type {self.proj_type!r} is not one of {list(PROJECTION_TYPES)}")
        for name in ("num_timesteps", "k", "noise_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FeatureSettings.{name} must be a positive integer, got {value!r}")


class FeatureStore:
    """Projected features [n, k] of one dataset under one model and :class:`FeatureSettings`, as a float32 ``.npy``
    memmap in ``<cache_dir>/<key>/features.npy`` (key = sha256 of the settings, timesteps, parameter selection,
    projector, model weights and dataset fingerprint). Computed per chunk of ``chunk_size`` samples;
    ``progress.json`` lists the chunks done and is written after each chunk is flushed, so a killed run resumes at
    the next chunk and ends with the same array as an uninterrupted one; a finished store is returned as is."""

    def __init__(self, cache_dir: str | os.PathLike, unet: nn.Module, scheduler: Any, settings: FeatureSettings, *,
                 dataset_fingerprint: str, num_samples: int, parameters: ParameterSelection = None,
                 chunk_size: int = 1000, batch_size: int = 16, projector_backend: str = "auto") -> None:
        if not isinstance(dataset_fingerprint, str) or not dataset_fingerprint:
            raise ValueError("FeatureStore: dataset_fingerprint must be a non-empty string (e.g. the reader's "
                             "fingerprint()), so features of different data never share a key")
        for name, value in (("num_samples", num_samples), ("chunk_size", chunk_size), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FeatureStore: {name} must be a positive integer, got {value!r}")
        self.unet, self.scheduler, self.settings = unet, scheduler, settings
        self.parameters, self.num_samples = parameters, num_samples
        self.chunk_size, self.batch_size = chunk_size, batch_size
        self.timesteps = attribution_timesteps(settings.timestep_strategy, settings.num_timesteps,
                                               int(scheduler.config.num_train_timesteps))
        selected = select_parameters(unet, parameters)
        self.parameter_names = list(selected)
        grad_dim = sum(p.numel() for p in selected.values())
        device = next(unet.parameters()).device
        self.projector = build_projector(grad_dim, settings.k, settings.projector_seed, device, settings.model_id,
                                         settings.proj_type, projector_backend)
        self.identity = {
            "format": FEATURE_FORMAT, "settings": asdict(settings), "timesteps": self.timesteps,
            "parameters_sha256": sha256_json(self.parameter_names), "grad_dim": grad_dim,
            "projector": self.projector.describe(), "model_sha256": module_sha256(unet),
            "scheduler": sha256_json(dict(scheduler.config)), "dataset_fingerprint": dataset_fingerprint,
            "num_samples": num_samples,
        }
        self.key = sha256_json(self.identity)
        self.folder = Path(cache_dir) / self.key
        self.path = self.folder / "features.npy"
        self.progress_path = self.folder / "progress.json"

    def chunks(self) -> list[tuple[int, int]]:
        """[start, stop) of every chunk."""
        return [(a, min(a + self.chunk_size, self.num_samples)) for a in range(0, self.num_samples, self.chunk_size)]

    def progress(self) -> dict[str, Any] | None:
        """The recorded progress (chunks done, chunking, complete), or None before the first run."""
        return read_json(self.progress_path) if self.progress_path.is_file() else None

    def describe(self) -> dict[str, Any]:
        """Settings, key, path and progress, as recorded in ``settings.json`` next to the features."""
        state = self.progress() or {}
        return {**self.identity, "key": self.key, "path": str(self.path), "chunk_size": self.chunk_size,
                "batch_size": self.batch_size, "parameter_names": self.parameter_names,
                "chunks_done": len(state.get("chunks_done", [])), "num_chunks": len(self.chunks()),
                "complete": bool(state.get("complete", False))}

    def compute(self, images: ImageSource, *, on_chunk: Callable[[int], None] | None = None) -> np.memmap:
        """The features as a read-only memmap [n, k], computing the chunks not done yet. ``images`` is a tensor
        [n, C, H, W] in [0, 1] (or a :class:`LatentBatch`) or ``load(start, stop)`` returning that slice;
        ``on_chunk(index)`` runs after each chunk is saved."""
        if isinstance(images, torch.Tensor | LatentBatch) and len(images) != self.num_samples:
            raise ValueError(f"FeatureStore: {len(images)} images given for a store of {self.num_samples} samples")
        # one writer per store: a second process waits, then finds the store finished (or resumes it)
        with run_lock(self.folder, what="feature store", wait=True):
            return self._compute(images, on_chunk)

    def _compute(self, images: ImageSource, on_chunk: Callable[[int], None] | None) -> np.memmap:
        state = self.progress()
        if state is not None and state.get("complete"):
            return self._open("r")
        done = self._resume(state)
        features = self._open("r+")
        for index, (start, stop) in enumerate(self.chunks()):
            if index in done:
                continue
            batch = images[start:stop] if isinstance(images, torch.Tensor | LatentBatch) else images(start, stop)
            if not isinstance(batch, torch.Tensor | LatentBatch) or len(batch) != stop - start:
                raise ValueError(f"FeatureStore: the image loader returned {getattr(batch, 'shape', type(batch))} "
                                 f"for samples [{start}, {stop}); expected a tensor of {stop - start} images")
            features[start:stop] = self._project(batch, start).numpy()
            features.flush()
            done.add(index)
            self._write_progress(done, complete=False)
            if on_chunk is not None:
                on_chunk(index)
        del features
        self._write_progress(done, complete=True)
        atomic_write_json(self.folder / "settings.json", self.describe())
        return self._open("r")

    def _project(self, images: ModelInputs, start: int) -> torch.Tensor:
        out = []
        for a in range(0, len(images), self.batch_size):
            part = images[a:a + self.batch_size]
            grads = per_sample_features(
                self.unet, self.scheduler, part, timesteps=self.timesteps, output=self.settings.output,
                e_seed=self.settings.e_seed, normalize=self.settings.normalize, parameters=self.parameters,
                chunk=self.batch_size, noise_batch=self.settings.noise_batch,
                positions=torch.arange(start + a, start + a + len(part)))
            out.append(self.projector.project(grads).cpu())
        return torch.cat(out)

    def _resume(self, state: dict[str, Any] | None) -> set[int]:
        """The chunks already done; creates the memmap on a first run. Resuming with other chunking is refused,
        since a chunk's float rounding depends on how it was batched."""
        if state is None or not self.path.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / f".features.{os.getpid()}.tmp.npy"
            created = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(self.num_samples,
                                                                                        self.settings.k))
            created.flush()
            del created
            os.replace(tmp, self.path)
            self._write_progress(set(), complete=False)
            return set()
        recorded = {"chunk_size": state.get("chunk_size"), "batch_size": state.get("batch_size")}
        if recorded != {"chunk_size": self.chunk_size, "batch_size": self.batch_size}:
            raise StoreError(f"{self.progress_path}: this unfinished feature store was computed with {recorded}; "
                             f"resume with those values (not chunk_size={self.chunk_size}, batch_size="
                             f"{self.batch_size}) or delete {self.folder} to start over")
        return {int(i) for i in state.get("chunks_done", [])}

    def _open(self, mode: Literal["r", "r+"]) -> np.memmap:
        try:
            features = np.load(self.path, mmap_mode=mode)
        except (OSError, ValueError) as error:
            raise StoreError(f"{self.path}: cannot read the feature memmap ({error}); delete {self.folder} to "
                             "recompute it") from error
        if features.shape != (self.num_samples, self.settings.k) or features.dtype != np.float32:
            raise StoreError(f"{self.path}: holds {features.dtype} {features.shape}, expected float32 "
                             f"{(self.num_samples, self.settings.k)}; delete {self.folder} to recompute it")
        return features

    def _write_progress(self, done: set[int], *, complete: bool) -> None:
        atomic_write_json(self.progress_path, {"key": self.key, "chunk_size": self.chunk_size,
                                               "batch_size": self.batch_size, "num_chunks": len(self.chunks()),
                                               "chunks_done": sorted(done), "complete": complete})
