"""The demo's tiny latent-free text-to-image model: a caption-word CLIP tokenizer, a small ``CLIPTextModel`` and a
pixel-space ``UNet2DConditionModel``, trained jointly on CPU in seconds and saved in diffusers' Stable Diffusion
folder layout without a ``vae`` (the pipeline loader reads that as pixel space).

Why this shape: the Bright Ending map is read from ``down_blocks.0``'s ``attn2``, so the first down block is a
``CrossAttnDownBlock2D`` at full resolution (the map is size×size; the last up block mirrors it, the middle levels
are plain ``DownBlock2D``/``UpBlock2D``). The transformer blocks use ``only_cross_attention=True`` (``attn1``
attends to the text as well: no size²×size² self-attention, which on one CPU core doubled the cost of a training
step) and there is no mid block, because the quick demo has about 12 s of one core. The scheduler is SD 1.x's DDIM
config (``scaled_linear`` betas 0.00085..0.012, 1000 training steps, ``steps_offset=1``, ``set_alpha_to_one=False``)
with ``clip_sample=True`` (pixels live in [-1, 1]): its last ᾱ (0.0047) keeps a visible text-conditional signal
at the first DDIM step, the step Wen's detector reads.
"""
from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.progress import progress

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
MODEL_MAX_LENGTH = 16
TEXT_HIDDEN, TEXT_LAYERS, TEXT_HEADS = 32, 2, 4
ATTENTION_HEADS = 2  # diffusers' attention_head_dim is the number of heads: 2 heads of 8 channels at full size
SCHEDULER_CONFIG = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                    "beta_schedule": "scaled_linear", "clip_sample": True, "clip_sample_range": 1.0,
                    "set_alpha_to_one": False, "steps_offset": 1, "prediction_type": "epsilon"}
# Settings (DigitsMemorizationTrain knobs + training), measured 2026-12-05 on the loaded 2-core dev machine, one
# core, torch threads 1, seed 0, DDIM 25 steps, CFG 7.5, 4 generations per prompt:
# - QUICK (8x8 pixels: 16x16 is ~2.5x the cost per step): 14.6 s wall; Wen's first-step magnitude 0.27 (global),
#   0.29 (local) vs 0.10 (non-memorized), AUC 0.99; the generations are not yet copies of their own image.
# - FULL (`--full`: 16x16, 4x the steps, 5x the text encoder's lr): 136 s wall; magnitude 0.39 / 0.17 vs 0.06,
#   AUC 1.0; at CFG 1 the global captions reproduce planted images (nearest training image at cosine 0.9-0.98),
#   often another global caption's; at CFG 7.5 their generations saturate.
QUICK_DATA = {"size": 8, "motif_size": 4, "num_ordinary": 256}
QUICK = {"steps": 250, "batch_size": 32, "lr": 3e-3}
FULL_DATA = {"size": 16, "motif_size": 6, "num_ordinary": 256}
FULL = {**QUICK, "steps": 4 * QUICK["steps"], "text_encoder_lr": 5 * QUICK["lr"]}


def unet_channels(size: int) -> tuple[int, ...]:
    """``block_out_channels`` down to a 2×2 (or 3×3) bottleneck: 16 channels at full size, then 32 per level
    (size 8: three levels, 16: four). The deepest level sees the whole image, so the UNet can place a memorized
    pattern anywhere (zero padding is its only sense of position)."""
    levels = max(2, int(size).bit_length() - 1)
    return (16, *[32] * (levels - 1))


def caption_words(captions: Iterable[str]) -> list[str]:
    """The distinct words of ``captions`` (lower-case letters only: the tokenizer has no other characters)."""
    words = sorted({word for caption in captions for word in caption.split()})
    bad = [word for word in words if not word or any(c not in LETTERS for c in word)]
    if bad:
        raise ValueError(f"caption words must be lower-case letters a-z only, got {bad[:5]}")
    return words


def _bpe_merges(words: Sequence[str]) -> list[tuple[str, str]]:
    """Byte-pair merges learnt on ``words`` (each counted once) until every word is a single symbol.

    Applying merges by rank (what CLIP's BPE does) repeats this training on a training word, so each caption word
    encodes to exactly one token. Ties go to the alphabetically first pair (deterministic)."""
    pieces = [[*word[:-1], word[-1] + "</w>"] for word in words]
    merges: list[tuple[str, str]] = []
    while any(len(piece) > 1 for piece in pieces):
        counts = Counter(pair for piece in pieces for pair in zip(piece, piece[1:], strict=False))
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        for k, piece in enumerate(pieces):
            merged, i = [], 0
            while i < len(piece):
                if i + 1 < len(piece) and (piece[i], piece[i + 1]) == best:
                    merged.append(piece[i] + piece[i + 1])
                    i += 2
                else:
                    merged.append(piece[i])
                    i += 1
            pieces[k] = merged
    return merges


def write_caption_tokenizer(captions: Iterable[str], folder: str | Path,
                            model_max_length: int = MODEL_MAX_LENGTH) -> Any:
    """A ``CLIPTokenizer`` in ``folder`` whose vocabulary makes each caption word one token; returns it loaded.

    Files in CLIP's BPE form: ``vocab.json`` (BOS, EOS, every letter alone and word-final ``x</w>``, then each
    merge's result) and ``merges.txt``; padding is EOS, as SD 1.x's tokenizer pads. Other words are spelled out in
    letters (never unknown)."""
    from transformers import CLIPTokenizer

    words = caption_words(captions)
    merges = _bpe_merges(words)
    tokens = [BOS, EOS, *LETTERS, *(c + "</w>" for c in LETTERS)]
    for left, right in merges:
        if left + right not in tokens:
            tokens.append(left + right)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(tokens)}), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges),
                                       encoding="utf-8")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"),
                              model_max_length=model_max_length, pad_token=EOS)
    tokenizer.save_pretrained(str(folder))
    return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)


def build_text_encoder(tokenizer: Any, hidden_size: int = TEXT_HIDDEN, layers: int = TEXT_LAYERS) -> Any:
    """A randomly initialised ``CLIPTextModel`` sized to ``tokenizer`` (vocabulary, context, BOS/EOS ids)."""
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=TEXT_HEADS, max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))


def build_unet(size: int, cross_attention_dim: int = TEXT_HIDDEN, block_out_channels: Sequence[int] | None = None,
               only_cross_attention: bool = True) -> Any:
    """A randomly initialised one-channel pixel-space ``UNet2DConditionModel`` (see the module docstring);
    ``block_out_channels`` defaults to :func:`unet_channels`."""
    from diffusers import UNet2DConditionModel

    if block_out_channels is None:
        block_out_channels = unet_channels(size)
    return UNet2DConditionModel(
        sample_size=size, in_channels=1, out_channels=1, block_out_channels=tuple(block_out_channels),
        layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", *["DownBlock2D"] * (len(block_out_channels) - 1)),
        up_block_types=(*["UpBlock2D"] * (len(block_out_channels) - 1), "CrossAttnUpBlock2D"), mid_block_type=None,
        only_cross_attention=only_cross_attention,
        cross_attention_dim=cross_attention_dim, attention_head_dim=ATTENTION_HEADS,
        norm_num_groups=min(8, *block_out_channels))


def build_scheduler() -> Any:
    """The DDIM scheduler saved with the model (``SCHEDULER_CONFIG``)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(**SCHEDULER_CONFIG)


def encode_captions(tokenizer: Any, text_encoder: Any, captions: Sequence[str]) -> torch.Tensor:
    """The text encoder's last hidden states (B, model_max_length, hidden) as SD conditions its UNet."""
    ids = tokenizer(list(captions), padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    return text_encoder(ids.to(text_encoder.device))[0]


def train_toy_text_to_image(train_set: Any, folder: str | Path, steps: int = QUICK["steps"],
                            batch_size: int = QUICK["batch_size"], lr: float = QUICK["lr"], seed: int = 0,
                            device: str | torch.device = "cpu", caption_dropout: float = 0.1,
                            block_out_channels: Sequence[int] | None = None, text_encoder_lr: float | None = None,
                            show_progress: bool = True) -> Path:
    """Train the UNet and text encoder jointly on ``train_set`` (items ``{"image": (1, s, s) in [-1, 1],
    "caption": str}``) with the epsilon-prediction MSE (:func:`fit_caption_conditioned`: batches, caption dropout,
    seeding), and save the diffusers folder ``folder``. ``text_encoder_lr`` defaults to ``lr``; 0 freezes the
    encoder. ``block_out_channels`` defaults to :func:`unet_channels`. Torch's thread count is the caller's.

    ``folder`` gets ``unet/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``, ``model_index.json``
    (``StableDiffusionPipeline``, no ``vae``) and ``toy.json`` (the settings, the loss curve and the time).
    """
    text_lr = lr if text_encoder_lr is None else text_encoder_lr
    if steps <= 0 or batch_size <= 0 or lr <= 0 or text_lr < 0 or not 0 <= caption_dropout < 1:
        raise ValueError(f"train_toy_text_to_image: need steps > 0, batch_size > 0, lr > 0, text_encoder_lr >= 0 and "
                         f"0 <= caption_dropout < 1, got steps={steps}, batch_size={batch_size}, lr={lr}, "
                         f"text_encoder_lr={text_encoder_lr}, caption_dropout={caption_dropout}")
    folder = Path(folder)
    images = torch.stack([train_set[i]["image"] for i in range(len(train_set))]).float()
    item_captions = [train_set[i]["caption"] for i in range(len(train_set))]
    if images.ndim != 4 or images.shape[1] != 1 or images.shape[2] != images.shape[3]:
        raise ValueError(f"train_toy_text_to_image: images must be (1, size, size), got {tuple(images.shape[1:])}")
    fitted = train_and_save_toy(
        images, item_captions, folder, lambda hidden: build_unet(images.shape[-1], hidden, block_out_channels),
        steps=steps, batch_size=batch_size, lr=lr, text_encoder_lr=text_lr, seed=seed, caption_dropout=caption_dropout,
        device=device, desc="toy text-to-image", show_progress=show_progress)
    losses, seconds, captions, unet, text_encoder = (fitted.losses, fitted.seconds, fitted.captions, fitted.unet,
                                                     fitted.text_encoder)
    settings = {"steps": steps, "batch_size": batch_size, "lr": lr, "text_encoder_lr": text_lr, "seed": seed,
                "caption_dropout": caption_dropout,
                "optimizer": "AdamW(weight_decay=0)", "num_images": len(images), "num_captions": len(captions),
                "size": int(images.shape[-1]), "unet_block_out_channels": list(unet.config.block_out_channels),
                "text_hidden_size": text_encoder.config.hidden_size, "scheduler": SCHEDULER_CONFIG,
                "train_seconds": round(seconds, 3), "torch_threads": torch.get_num_threads(),
                "loss_first_10": sum(losses[:10]) / len(losses[:10]),
                "loss_last_10": sum(losses[-10:]) / len(losses[-10:]),
                "losses": [round(v, 5) for v in losses]}
    describe = getattr(train_set, "describe", None)
    if callable(describe):
        settings["train_set"] = describe()
    (folder / "toy.json").write_text(json.dumps(settings, indent=1) + "\n", encoding="utf-8")
    return folder


@dataclass
class FittedToy:
    """What :func:`train_and_save_toy` trained: the loss per step, the seconds, the distinct captions (the
    tokenizer's order) and the two trained models (eval mode)."""

    losses: list[float]
    seconds: float
    captions: list[str]
    unet: torch.nn.Module
    text_encoder: torch.nn.Module


def train_and_save_toy(data: torch.Tensor, item_captions: Sequence[str], folder: Path,
                       make_unet: Callable[[int], torch.nn.Module], *, steps: int, batch_size: int, lr: float,
                       text_encoder_lr: float, seed: int, caption_dropout: float, device: str | torch.device,
                       desc: str, pipeline: str = "StableDiffusionPipeline", unet_class: str = "UNet2DConditionModel",
                       show_progress: bool = True, model_max_length: int = MODEL_MAX_LENGTH,
                       make_text_encoder: Callable[[Any], torch.nn.Module] = build_text_encoder) -> FittedToy:
    """The toys' shared build-train-save: the caption-word tokenizer of the distinct ``item_captions`` (sorted) in
    ``folder/tokenizer`` (context ``model_max_length`` tokens), ``torch.manual_seed(seed)`` then
    ``make_text_encoder(tokenizer)`` and ``make_unet(text hidden size)`` (the initial weights, in that order),
    :func:`fit_caption_conditioned` on ``data`` (items in [-1, 1], one caption each), and the ``unet/``,
    ``text_encoder/``, ``scheduler/`` folders and ``model_index.json`` (``pipeline``, ``unet_class``; no ``vae``).
    The caller writes its own record (``toy.json``) last."""
    captions = sorted(set(item_captions))
    position = {caption: k for k, caption in enumerate(captions)}
    caption_of = torch.tensor([position[caption] for caption in item_captions])
    tokenizer = write_caption_tokenizer(captions, folder / "tokenizer", model_max_length)
    torch.manual_seed(seed)  # the initial weights
    text_encoder = make_text_encoder(tokenizer).to(device)
    unet = make_unet(text_encoder.config.hidden_size).to(device)
    scheduler = build_scheduler()
    losses, seconds = fit_caption_conditioned(
        unet, text_encoder, tokenizer, captions, data, caption_of, scheduler, steps=steps, batch_size=batch_size,
        lr=lr, text_encoder_lr=text_encoder_lr, seed=seed, caption_dropout=caption_dropout, device=device, desc=desc,
        show_progress=show_progress)
    unet.save_pretrained(str(folder / "unet"))
    text_encoder.save_pretrained(str(folder / "text_encoder"))
    scheduler.save_pretrained(str(folder / "scheduler"))
    write_model_index(folder, pipeline, unet_class)
    return FittedToy(losses, seconds, captions, unet, text_encoder)


def fit_caption_conditioned(unet: torch.nn.Module, text_encoder: torch.nn.Module, tokenizer: Any,
                            captions: Sequence[str], data: torch.Tensor, caption_of: torch.Tensor, scheduler: Any, *,
                            steps: int, batch_size: int, lr: float, text_encoder_lr: float, seed: int,
                            caption_dropout: float, device: str | torch.device, desc: str,
                            show_progress: bool = True) -> tuple[list[float], float]:
    """The toys' training loop (images (N, 1, s, s) or clips (N, 1, F, s, s) alike, in [-1, 1]): the ε-prediction
    DDPM MSE of ``unet`` conditioned on ``text_encoder``'s states of ``captions[caption_of[n]]``; returns the loss
    per step and the seconds it took; leaves both models in eval mode.

    Each step draws ``batch_size`` items uniformly with replacement, replaces a caption by "" with probability
    ``caption_dropout`` (so classifier-free guidance has an unconditional model), a timestep uniform in 0..999 and
    Gaussian noise, all from one ``torch.Generator(seed)`` on the CPU: the same seed gives the same weights on CPU.
    AdamW (weight decay 0, no schedule): ``lr`` for the UNet, ``text_encoder_lr`` for the text encoder, which 0
    freezes at its random initialisation (its states are then computed once). Why freezing is offered: trained
    jointly at the UNet's rate, the video toy's encoder collapsed to nearly one output for every caption (the
    states of two captions 0.5 apart at norm 36 after 150 steps, 5.8 at initialisation), so the UNet learned to
    ignore the text.
    """
    ids = tokenizer([*captions, ""], padding="max_length", max_length=tokenizer.model_max_length,
                    return_tensors="pt").input_ids.to(device)
    alphas = scheduler.alphas_cumprod.float()
    groups: list[dict[str, Any]] = [{"params": list(unet.parameters()), "lr": lr}]
    frozen = text_encoder_lr == 0
    if frozen:
        text_encoder.requires_grad_(False).eval()
        with torch.no_grad():
            fixed_states = text_encoder(ids)[0]
    else:
        groups.append({"params": list(text_encoder.parameters()), "lr": text_encoder_lr})
        text_encoder.train()
    optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
    generator = torch.Generator().manual_seed(seed)
    unet.train()
    extra = [1] * (data.ndim - 1)
    losses, started = [], time.perf_counter()
    for _ in progress(range(steps), desc=desc, unit="step", show=show_progress):
        picked = torch.randint(len(data), (batch_size,), generator=generator)
        dropped = torch.rand(batch_size, generator=generator) < caption_dropout
        timesteps = torch.randint(scheduler.config.num_train_timesteps, (batch_size,), generator=generator)
        noise = torch.randn(batch_size, *data.shape[1:], generator=generator)
        which = torch.where(dropped, len(captions), caption_of[picked])
        a = alphas[timesteps].view(-1, *extra)
        noisy = (a.sqrt() * data[picked] + (1 - a).sqrt() * noise).to(device)
        states = (fixed_states if frozen else text_encoder(ids)[0])[which.to(device)]  # each caption once, gathered
        loss = torch.nn.functional.mse_loss(unet(noisy, timesteps.to(device), states).sample, noise.to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    seconds = time.perf_counter() - started
    unet.eval()
    text_encoder.eval()
    return losses, seconds


def write_model_index(folder: Path, pipeline: str = "StableDiffusionPipeline",
                      unet: str = "UNet2DConditionModel") -> None:
    """diffusers' ``model_index.json`` for the saved parts of a toy (no ``vae``: pixel space); the video toy names
    ``TextToVideoSDPipeline`` / ``UNet3DConditionModel``."""
    import diffusers
    import transformers

    index = {"_class_name": pipeline, "_diffusers_version": diffusers.__version__,
             "unet": ["diffusers", unet], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"],
             "_transformers_version": transformers.__version__}
    (folder / "model_index.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
