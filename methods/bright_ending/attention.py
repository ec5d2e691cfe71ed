"""The Bright Ending map: end-of-text (EOS) cross-attention of the first down block at one denoising step.

BE (arXiv 2410.21665, official ``chenchen-usyd/BE-PRSS``: ``controller.py``, ``register_attention_control.py``,
``detect_mem.py``) reads softmax(QKᵀ/√d) of the two ``down_blocks.0`` cross-attention layers (``attn2``, query length
64×64 for SD v1.x) at the last of 50 DDIM steps, keeps the text-conditional half of the CFG batch, averages the 8
heads, then the 2 layers, and takes the column of the EOS token (``token_len - 1``). The result is a soft map in
[0, 1] per generation, used unthresholded as a mask M over the latent.

Unlike the official hook this capture never counts calls: the caller names the step of each UNet call it wants
recorded (``with capture.at_step(i): unet(...)``), so extra UNet calls, other step counts and other head counts
all work. The processor wraps the layer's previous processor (diffusers' default ``AttnProcessor2_0``, i.e. SDPA),
whose output it returns untouched: hidden states are bit-identical to the plain pipeline's. Only at the recorded
step does it compute the probabilities a second time, explicitly, with the layer's own ``get_attention_scores``
(the computation the official code stored), for the conditional half only.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch

DEFAULT_BLOCK = "down_blocks.0"
MAX_TOKENS = 77  # CLIP's context length: the official code clips token_len to the attention's last dimension


def eos_index(prompt: str | Sequence[int], tokenizer: Any = None, max_tokens: int = MAX_TOKENS) -> int:
    """The EOS token's column as the official ``detect_mem.py`` computes it: ``token_len - 1`` with ``token_len =
    min(len(tokenizer.encode(prompt)), 77)``. ``encode`` adds BOS and EOS, so this is the EOS column (not padding);
    a prompt longer than the context lands on the last column, where the truncating text encoder puts its EOS.

    ``prompt`` is the text (then ``tokenizer`` encodes it) or its ids as ``tokenizer.encode`` returns them (BOS and
    EOS included; no tokenizer needed)."""
    if isinstance(prompt, str):
        if tokenizer is None:
            raise ValueError("eos_index: a text prompt needs the pipeline's tokenizer (or pass its token ids)")
        ids = list(tokenizer.encode(prompt, verbose=False))  # no "longer than the maximum" warning: we clip
    else:
        ids = list(prompt)
    if len(ids) < 2:
        raise ValueError(f"eos_index: the encoded prompt has {len(ids)} token(s); a CLIP encoding has at least BOS "
                         "and EOS (pass the ids tokenizer.encode returns, not the bare word ids)")
    return min(len(ids), max_tokens) - 1


class EOSAttentionCapture:
    """Shared state of the capture: which step is recorded, the EOS column of each conditional batch item, and the
    per-layer maps recorded so far.

    Args:
        step: the denoising step (0-based index into the sampler's timesteps) whose attention is recorded; negative
            counts from the end (``-1``, the default, is the last step, the official code's ``cur_step == 49`` of 50).
        conditional_half: the UNet batch is ``[unconditional, conditional]`` (diffusers' CFG order, the official
            ``attn[h // 2:]``); False when the batch is conditional only (guidance scale ≤ 1).
    """

    def __init__(self, step: int = -1, conditional_half: bool = True) -> None:
        self.step = int(step)
        self.conditional_half = conditional_half
        self.layers: list[str] = []
        self._eos: torch.Tensor | None = None
        self._target: int | None = None
        self._armed = False
        self._maps: dict[str, torch.Tensor] = {}

    def start(self, eos: int | Sequence[int] | torch.Tensor, num_steps: int) -> None:
        """Begin one generation: forget earlier maps, set the EOS column per conditional batch item (an int is used
        for all) and resolve ``step`` against ``num_steps``."""
        target = self.step + num_steps if self.step < 0 else self.step
        if not 0 <= target < num_steps:
            raise ValueError(f"bright_ending capture step {self.step} is outside a {num_steps}-step sampler "
                             f"(valid: {-num_steps} .. {num_steps - 1}; -1 is the last step)")
        self._target = target
        self._eos = torch.as_tensor(eos, dtype=torch.long).reshape(-1)
        self._maps = {}
        self._armed = False

    @contextmanager
    def at_step(self, step: int) -> Iterator[None]:
        """Wrap the UNet call of denoising step ``step`` whose attention may be recorded; calls outside this context
        (extra guidance passes, other steps) are never recorded."""
        if self._target is None:
            raise RuntimeError("EOSAttentionCapture.at_step called before start(eos, num_steps)")
        self._armed = step == self._target
        try:
            yield
        finally:
            self._armed = False

    @property
    def recording(self) -> bool:
        return self._armed

    def record(self, layer: str, probs: torch.Tensor) -> None:
        """Keep the EOS column of ``probs`` (conditional items, shape (n, heads, queries, tokens)), averaged over
        heads in float32."""
        if layer in self._maps:
            raise RuntimeError(f"bright_ending capture: layer {layer} ran twice inside at_step({self._target}); "
                               "wrap only the one UNet call whose attention is the map")
        assert self._eos is not None
        n = probs.shape[0]
        eos = self._eos.to(probs.device)
        if eos.numel() == 1:
            eos = eos.expand(n)
        if eos.numel() != n:
            raise ValueError(f"bright_ending capture: {eos.numel()} EOS indices for {n} conditional batch items; "
                             "pass one per generation (or one int) to start()")
        if int(eos.max()) >= probs.shape[-1] or int(eos.min()) < 0:
            raise ValueError(f"bright_ending capture: EOS indices {eos.tolist()} must lie in 0 .. "
                             f"{probs.shape[-1] - 1} (the text tokens); use eos_index(prompt, tokenizer)")
        index = eos.view(n, 1, 1, 1).expand(n, probs.shape[1], probs.shape[2], 1)
        column = probs.gather(-1, index).squeeze(-1)  # (n, heads, queries)
        self._maps[layer] = column.float().mean(dim=1)

    def eos_map(self, height: int, width: int) -> torch.Tensor:
        """M: the recorded EOS columns averaged over the layers, shape (n, 1, height, width) (broadcasts over the
        latent channels); ``height × width`` is the latent size (64×64 for SD v1.x at 512²)."""
        missing = [name for name in self.layers if name not in self._maps]
        if self._target is None or missing:
            raise RuntimeError(f"bright_ending capture has no map for {missing or self.layers}: run the UNet inside "
                               f"at_step(i) for the capture step ({self._target}) after start()")
        stacked = torch.stack([self._maps[name] for name in self.layers])
        if stacked.shape[-1] != height * width:
            raise ValueError(f"bright_ending map has {stacked.shape[-1]} query positions, not {height}×{width}; "
                             "pass the latent height and width")
        return stacked.mean(dim=0).reshape(-1, 1, height, width)


class EOSAttnProcessor:
    """Attention processor of one cross-attention layer: returns what the wrapped (previous) processor returns and,
    while the capture is recording, stores the conditional half's explicit softmax(QKᵀ·scale) EOS column."""

    def __init__(self, name: str, capture: EOSAttentionCapture, wrapped: Any) -> None:
        self.name = name
        self.capture = capture
        self.wrapped = wrapped

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args: Any,
                 **kwargs: Any) -> torch.Tensor:
        if self.capture.recording:
            self.capture.record(self.name, attention_probs(attn, hidden_states, encoder_hidden_states, attention_mask,
                                                           temb, self.capture.conditional_half))
        return self.wrapped(attn, hidden_states, encoder_hidden_states, attention_mask, temb, *args, **kwargs)


def attention_probs(attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None,
                    attention_mask: torch.Tensor | None, temb: torch.Tensor | None,
                    conditional_half: bool) -> torch.Tensor:
    """softmax(QKᵀ·scale) of a diffusers ``Attention`` for its inputs, through the layer's own normalisations,
    projections and ``get_attention_scores`` (as diffusers' ``AttnProcessor`` computes it), for the conditional half
    of the batch when ``conditional_half``; shape (n, heads, queries, keys)."""
    if encoder_hidden_states is None:
        raise ValueError(f"the Bright Ending capture is for cross-attention layers (attn2); {type(attn).__name__} "
                         "was called without encoder_hidden_states")
    if attn.spatial_norm is not None:
        hidden_states = attn.spatial_norm(hidden_states, temb)
    if hidden_states.ndim == 4:
        b, c, h, w = hidden_states.shape
        hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
    batch, tokens, _ = encoder_hidden_states.shape
    if attention_mask is not None:  # (batch·heads, 1 or queries, keys), batch-major like head_to_batch_dim
        attention_mask = attn.prepare_attention_mask(attention_mask, tokens, batch)
    first = 0
    if conditional_half:
        if batch % 2:
            raise ValueError(f"the Bright Ending capture expected a CFG batch [unconditional, conditional] but got "
                             f"{batch} items; set conditional_half=False when the batch has no unconditional half")
        first = batch // 2
    hidden_states, encoder_hidden_states = hidden_states[first:], encoder_hidden_states[first:]
    if attention_mask is not None:
        attention_mask = attention_mask[first * attn.heads:]
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    query = attn.to_q(hidden_states)
    if attn.norm_cross:
        encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
    key = attn.to_k(encoder_hidden_states)
    query, key = attn.head_to_batch_dim(query), attn.head_to_batch_dim(key)
    if getattr(attn, "norm_q", None) is not None:
        query = attn.norm_q(query)
    if getattr(attn, "norm_k", None) is not None:
        key = attn.norm_k(key)
    probs = attn.get_attention_scores(query, key, attention_mask)
    return probs.view(batch - first, attn.heads, probs.shape[1], probs.shape[2])


def cross_attention_layers(unet: torch.nn.Module, block: str = DEFAULT_BLOCK) -> dict[str, Any]:
    """The cross-attention (``attn2``) modules under ``block`` of a ``UNet2DConditionModel``, by module name
    (``down_blocks.0.attentions.{0,1}.transformer_blocks.0.attn2`` for SD v1.x)."""
    layers = {name: module for name, module in unet.named_modules()
              if name.startswith(block + ".") and name.endswith(".attn2") and hasattr(module, "set_processor")
              and getattr(module, "is_cross_attention", False)}
    if not layers:
        raise ValueError(f"{type(unet).__name__} has no cross-attention layer (attn2) under {block!r}; the Bright "
                         "Ending map needs a UNet2DConditionModel whose first down block is a CrossAttnDownBlock2D")
    return layers


def install(unet: torch.nn.Module, capture: EOSAttentionCapture, block: str = DEFAULT_BLOCK) -> dict[str, Any]:
    """Put an :class:`EOSAttnProcessor` on every ``attn2`` under ``block``; returns the previous processors by layer
    name, for :func:`uninstall`."""
    layers = cross_attention_layers(unet, block)
    previous = {}
    for name, module in layers.items():
        if isinstance(module.processor, EOSAttnProcessor):
            raise RuntimeError(f"{name} already has a Bright Ending processor; uninstall it first")
        previous[name] = module.processor
        module.set_processor(EOSAttnProcessor(name, capture, module.processor))
    capture.layers = list(layers)
    return previous


def uninstall(unet: torch.nn.Module, previous: dict[str, Any]) -> None:
    """Restore the processors :func:`install` replaced."""
    modules = dict(unet.named_modules())
    for name, processor in previous.items():
        modules[name].set_processor(processor)
