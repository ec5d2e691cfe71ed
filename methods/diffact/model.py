"""DiffAct's network: an ASFormer-like encoder and a denoising decoder over frame-wise class probabilities.

Module and buffer names follow ``ASDiffusionModel`` of Finspire13/DiffAct (``model.py``), so the released
``trained_models/<Dataset>-Trained-S<k>/release.model`` state dicts load with ``strict=True``. The constructor takes
the official JSON config's ``encoder_params`` / ``decoder_params`` / ``diffusion_params`` dicts unchanged.

The local attention (each frame attends only to its ``kernel_size`` dilated taps) is computed on an ``unfold``
view of the zero-padded keys and values instead of the official ``index_select`` gather; the numbers are the same,
including the official padding mask (``+ log(mask + 1e-6)`` before the softmax, ``* mask`` after).

Two switches serve DiffTriplet (``bench.methods.difftriplet``): ``activation="sigmoid"`` (multi-label frames:
the decoder's x0 and the encoder's probabilities use a sigmoid instead of a softmax) and ``causal=True`` (online:
each layer sees only the current and past frames, as the DiffTriplet-Anticipation derivative does it).
Neither adds parameters, so state dict names are unchanged.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.methods.diffact.conditioning import check_cond_types
from bench.methods.diffact.diffusion import GaussianDiffusionBuffers

ACTIVATIONS = ("softmax", "sigmoid")
RAW_INPUT = -1  # ``feature_layer_indices`` entry: the video features themselves
ENCODER_PROBS = -2  # ``feature_layer_indices`` entry: the encoder's softmax output


def timestep_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding [B, dim] of integer timesteps (DDPM / tensor2tensor: sin half, then cos half)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32, device=timesteps.device)
                      * -(math.log(10000) / (half - 1)))
    args = timesteps.float()[:, None] * freqs[None, :]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    return F.pad(emb, (0, 1)) if dim % 2 else emb


def swish(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


def class_probabilities(logits: torch.Tensor, activation: str) -> torch.Tensor:
    """Frame-wise probabilities [B, C, T]: softmax over classes (one action per frame) or sigmoid (multi-label)."""
    if activation == "softmax":
        return F.softmax(logits, 1)
    if activation == "sigmoid":
        return torch.sigmoid(logits)
    raise ValueError(f"activation {activation!r}; choose from {ACTIVATIONS}")


class MixedConvAttentionLayer(nn.Module):
    """x + FFN(InstanceNorm(DilatedConv(x') + LocalAttention(x'))), x' = dropout(x).

    With ``d_cross > 0`` (the decoder's layers) queries and keys are computed from ``concat(x, cross)`` and
    values from ``x`` alone; otherwise (the encoder's) all three come from ``x``. ``causal``: the inputs are
    zero-padded by the receptive half-width on the left and the output cut back to length T, so output t sees
    frames t - 2·pad .. t; the instance norm (statistics over the whole sequence) is dropped.
    """

    def __init__(self, d_model: int, kernel_size: int, dilation: int, dropout_rate: float, d_cross: int = 0,
                 causal: bool = False) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.d_model, self.kernel_size, self.dilation = d_model, kernel_size, dilation
        self.padding = (kernel_size // 2) * dilation
        self.conv_block = nn.Sequential(nn.Conv1d(d_model, d_model, kernel_size, padding=self.padding,
                                                  dilation=dilation))
        self.att_linear_q = nn.Conv1d(d_model + d_cross, d_model, 1)
        self.att_linear_k = nn.Conv1d(d_model + d_cross, d_model, 1)
        self.att_linear_v = nn.Conv1d(d_model, d_model, 1)
        self.ffn_block = nn.Sequential(nn.Conv1d(d_model, d_model, 1), nn.ReLU(), nn.Conv1d(d_model, d_model, 1))
        self.dropout = nn.Dropout(dropout_rate)
        self.causal = causal
        self.norm = nn.Identity() if causal else nn.InstanceNorm1d(d_model, track_running_stats=False)

    def taps(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, L, k]: for every frame the values at its k dilated taps (zeros outside the sequence)."""
        span = (self.kernel_size - 1) * self.dilation + 1
        return F.pad(x, (self.padding, self.padding)).unfold(2, span, 1)[..., ::self.dilation]

    def tap_mask(self, length: int, device: torch.device) -> torch.Tensor:
        """[L, k] float, 1 where the tap falls inside the sequence."""
        offsets = (torch.arange(self.kernel_size, device=device) - self.kernel_size // 2) * self.dilation
        positions = torch.arange(length, device=device)[:, None] + offsets[None, :]
        return ((positions >= 0) & (positions < length)).float()

    def attention(self, x: torch.Tensor, cross: torch.Tensor | None) -> torch.Tensor:
        qk_input = x if cross is None else torch.cat([x, cross], 1)
        query = self.att_linear_q(qk_input)
        keys, values = self.taps(self.att_linear_k(qk_input)), self.taps(self.att_linear_v(x))
        mask = self.tap_mask(x.shape[2], x.device).to(query.dtype)
        scores = torch.einsum("ncl,nclk->nlk", query, keys) / math.sqrt(self.d_model)
        weights = F.softmax(scores + torch.log(mask + 1e-6), dim=2) * mask
        return torch.einsum("nlk,nclk->ncl", weights, values)

    def forward(self, x: torch.Tensor, cross: torch.Tensor | None = None) -> torch.Tensor:
        x_drop = self.dropout(x)
        cross_drop = None if cross is None else self.dropout(cross)
        if self.causal:
            x_drop = F.pad(x_drop, (self.padding, 0))
            cross_drop = None if cross_drop is None else F.pad(cross_drop, (self.padding, 0))
        mixed = self.conv_block(x_drop) + self.attention(x_drop, cross_drop)
        return x + self.ffn_block(self.norm(mixed))[:, :, :x.shape[2]]


class MixedConvAttModule(nn.Module):
    """A stack of layers with dilation 2^i; the decoder's adds the time embedding first (``time_proj``)."""

    def __init__(self, num_layers: int, num_f_maps: int, kernel_size: int, dropout_rate: float,
                 d_cross: int = 0, time_emb_dim: int | None = None, causal: bool = False) -> None:
        super().__init__()
        if time_emb_dim is not None:
            self.time_proj = nn.Linear(time_emb_dim, num_f_maps)
        self.layers = nn.ModuleList(MixedConvAttentionLayer(num_f_maps, kernel_size, 2 ** i, dropout_rate, d_cross,
                                                            causal) for i in range(num_layers))

    def forward(self, x: torch.Tensor, cross: torch.Tensor | None = None, time_emb: torch.Tensor | None = None,
                feature_layers: list[int] | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The output and the outputs of the layers in ``feature_layers`` (in layer order)."""
        if time_emb is not None:
            x = x + self.time_proj(swish(time_emb))[:, :, None]
        features = []
        for index, layer in enumerate(self.layers):
            x = layer(x, cross)
            if feature_layers is not None and index in feature_layers:
                features.append(x)
        return x, features


class EncoderModel(nn.Module):
    """Frame classifier on the video features; also returns the decoder's condition features."""

    def __init__(self, num_layers: int, num_f_maps: int, input_dim: int, num_classes: int, kernel_size: int,
                 normal_dropout_rate: float, channel_dropout_rate: float, temporal_dropout_rate: float,
                 feature_layer_indices: list[int] | None = None, activation: str = "softmax",
                 causal: bool = False) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.activation = activation
        self.feature_layer_indices = list(feature_layer_indices or [])
        self.dropout_channel = nn.Dropout2d(p=channel_dropout_rate)
        self.dropout_temporal = nn.Dropout2d(p=temporal_dropout_rate)
        self.conv_in = nn.Conv1d(input_dim, num_f_maps, 1)
        self.encoder = MixedConvAttModule(num_layers, num_f_maps, kernel_size, normal_dropout_rate, causal=causal)
        self.conv_out = nn.Conv1d(num_f_maps, num_classes, 1)

    def forward(self, x: torch.Tensor, get_features: bool = False
                ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        raw = x
        x = self.dropout_channel(x.unsqueeze(3)).squeeze(3)  # whole feature channels
        x = self.dropout_temporal(x.unsqueeze(3).transpose(1, 2)).squeeze(3).transpose(1, 2)  # whole frames
        x, layer_features = self.encoder(self.conv_in(x), feature_layers=self.feature_layer_indices)
        logits = self.conv_out(x)
        if not get_features:
            return logits
        if not self.feature_layer_indices:
            raise ValueError("feature_layer_indices is empty: the decoder has no condition")
        features = ([raw] if RAW_INPUT in self.feature_layer_indices else []) + layer_features
        if ENCODER_PROBS in self.feature_layer_indices:
            features.append(class_probabilities(logits, self.activation))
        return logits, torch.cat(features, 1)


class DecoderModel(nn.Module):
    """Predicts x0 logits from the noisy class-probability sequence, the timestep and the condition."""

    def __init__(self, input_dim: int, num_classes: int, num_layers: int, num_f_maps: int, time_emb_dim: int,
                 kernel_size: int, dropout_rate: float, causal: bool = False) -> None:
        super().__init__()
        self.time_emb_dim = time_emb_dim
        self.time_in = nn.ModuleList([nn.Linear(time_emb_dim, time_emb_dim), nn.Linear(time_emb_dim, time_emb_dim)])
        self.conv_in = nn.Conv1d(num_classes, num_f_maps, 1)
        self.module = MixedConvAttModule(num_layers, num_f_maps, kernel_size, dropout_rate, d_cross=input_dim,
                                         time_emb_dim=time_emb_dim, causal=causal)
        self.conv_out = nn.Conv1d(num_f_maps, num_classes, 1)

    def forward(self, condition: torch.Tensor, t: torch.Tensor, event: torch.Tensor) -> torch.Tensor:
        time_emb = self.time_in[1](swish(self.time_in[0](timestep_embedding(t, self.time_emb_dim))))
        x, _ = self.module(self.conv_in(event), condition, time_emb)
        return self.conv_out(x)


def condition_dim(encoder_params: dict[str, Any], num_classes: int) -> int:
    """Channels of the decoder's condition: the chosen encoder layers, plus raw input and/or encoder probs."""
    indices = encoder_params["feature_layer_indices"]
    dim = sum(1 for i in indices if i not in (RAW_INPUT, ENCODER_PROBS)) * encoder_params["num_f_maps"]
    dim += encoder_params["input_dim"] if RAW_INPUT in indices else 0
    return dim + (num_classes if ENCODER_PROBS in indices else 0)


class ASDiffusionModel(GaussianDiffusionBuffers):
    """Encoder + decoder + the diffusion schedule buffers, named as the official state dict.

    ``activation`` and ``causal`` are not official DiffAct keys (it is always softmax and offline); see the module
    docstring.
    """

    def __init__(self, encoder_params: dict[str, Any], decoder_params: dict[str, Any],
                 diffusion_params: dict[str, Any], num_classes: int, activation: str = "softmax",
                 causal: bool = False) -> None:
        super().__init__(int(diffusion_params.get("timesteps", 1000)))
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r}; choose from {ACTIVATIONS}")
        encoder_params, decoder_params = dict(encoder_params), dict(decoder_params)
        self.num_classes = num_classes
        self.activation, self.causal = activation, causal
        self.sampling_timesteps = int(diffusion_params.get("sampling_timesteps", 25))
        self.eta = float(diffusion_params.get("ddim_sampling_eta", 1.0))
        self.scale = float(diffusion_params.get("snr_scale", 1.0))
        self.detach_decoder = bool(diffusion_params.get("detach_decoder", False))
        self.cond_types = check_cond_types(list(diffusion_params.get("cond_types", ["full"])))
        self.use_instance_norm = bool(encoder_params.pop("use_instance_norm", False))
        if self.use_instance_norm:
            self.ins_norm = nn.InstanceNorm1d(encoder_params["input_dim"], track_running_stats=False)
        self.encoder = EncoderModel(num_classes=num_classes, activation=activation, causal=causal, **encoder_params)
        self.decoder = DecoderModel(input_dim=condition_dim(encoder_params, num_classes), num_classes=num_classes,
                                    causal=causal, **decoder_params)

    def encode(self, video_feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder logits [B, C, T] and the decoder condition [B, D, T]."""
        if self.use_instance_norm:
            video_feats = self.ins_norm(video_feats)
        return self.encoder(video_feats, get_features=True)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """The model's frame-wise probabilities from encoder or decoder logits (softmax or sigmoid)."""
        return class_probabilities(logits, self.activation)
