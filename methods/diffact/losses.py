"""DiffAct's training targets and losses (official ``get_training_loss`` and dataset helpers).

Per video: encoder CE (class-weighted, or Gaussian-smoothed soft labels) + truncated MSE smoothing; decoder the
same plus a BCE between its predicted boundary probability ``1 - <p_t, p_{t-1}>`` and the smoothed GT boundary.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter1d

from bench.methods.diffact.conditioning import condition_mask
from bench.methods.diffact.diffusion import from_signal, to_signal

IGNORE = -100  # frame label outside the mapping (CE ignores it)
LOSS_NAMES = ("encoder_ce_loss", "encoder_mse_loss", "encoder_boundary_loss",
              "decoder_ce_loss", "decoder_mse_loss", "decoder_boundary_loss")


def boundary_target(labels: np.ndarray, smooth: float | None) -> np.ndarray:
    """1 at the two frames around every label change, Gaussian-smoothed with σ = ``smooth``, capped at the peak
    an isolated boundary reaches and rescaled to max 1 (official ``get_boundary_seq``). A video with a single
    segment has no boundary and gets zeros (the official code fails an assertion there)."""
    labels = np.asarray(labels)
    target = np.zeros(len(labels), dtype=np.float64)
    starts = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    if len(starts) == 0:
        return target
    target[starts] = 1
    target[starts - 1] = 1
    if smooth is not None:
        target = gaussian_filter1d(target, smooth)
        isolated = np.zeros_like(target)
        isolated[len(target) // 2] = isolated[len(target) // 2 - 1] = 1
        target = np.minimum(target, gaussian_filter1d(isolated, smooth).max())
        target /= target.max()
    return target


def class_weights(label_sequences: list[np.ndarray], num_classes: int) -> np.ndarray:
    """w_c = N / ((n_c + 10) C) over all frames of the training videos (N counts every frame, labelled or not)."""
    labels = np.concatenate([np.asarray(seq) for seq in label_sequences])
    counts = np.array([(labels == c).sum() for c in range(num_classes)], dtype=np.float64)
    return counts.sum() / ((counts + 10) * num_classes)


def soft_targets(one_hot: torch.Tensor, sigma: float) -> torch.Tensor:
    """Each class channel of a [1, C, T] one-hot target smoothed along time (not renormalised, as official)."""
    smoothed = gaussian_filter1d(one_hot.float().cpu().numpy(), sigma, axis=2)
    return torch.from_numpy(smoothed).to(one_hot.device)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor | None,
                        soft: torch.Tensor | None) -> torch.Tensor:
    """Mean over frames of the (weighted) CE, or of the soft-label cross-entropy when ``soft`` is given."""
    if soft is not None:
        return (-(soft * F.log_softmax(logits, 1))).sum(0).sum(0).mean()
    return F.cross_entropy(logits.transpose(2, 1).reshape(-1, logits.shape[1]), labels.reshape(-1), weight=weights,
                           ignore_index=IGNORE, reduction="none").mean()


def smoothing_loss(logits: torch.Tensor) -> torch.Tensor:
    """MS-TCN's truncated MSE between log-probabilities of neighbouring frames (previous frame detached)."""
    mse = F.mse_loss(F.log_softmax(logits[:, :, 1:], dim=1), F.log_softmax(logits.detach()[:, :, :-1], dim=1),
                     reduction="none")
    return torch.clamp(mse, min=0, max=16).mean()


def boundary_loss(logits: torch.Tensor, boundary: torch.Tensor) -> torch.Tensor:
    """BCE between ``1 - <p_t, p_{t-1}>`` (previous frame detached) and the boundary target at frames 1..T-1.

    Clamped to [0, 1] against float rounding of the dot product; the official code has no clamp and would raise.
    """
    agreement = (F.softmax(logits[:, :, 1:], 1) * F.softmax(logits.detach()[:, :, :-1], 1)).sum(1, keepdim=True)
    predicted = (1 - agreement).clamp(0, 1)
    return F.binary_cross_entropy(predicted, boundary[:, :, 1:], reduction="none").mean()


def training_losses(model: torch.nn.Module, feats: torch.Tensor, labels: torch.Tensor, boundary: torch.Tensor,
                    cond_type: str, weights: torch.Tensor | None, soft_label: float | None,
                    rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """The six official loss terms for one video: ``feats`` [1, D, T], ``labels`` [1, T], ``boundary`` [1, 1, T].

    Frames labelled -100 are ignored by the CE and get an all-zero diffusion target (the official one-hot
    would fail on them; the official configs never train with unknown labels).
    """
    num_classes = model.num_classes
    one_hot = F.one_hot(labels.clamp(min=0), num_classes).permute(0, 2, 1).float()
    one_hot = one_hot * (labels != IGNORE).unsqueeze(1)
    soft = soft_targets(one_hot, soft_label) if soft_label is not None else None
    encoder_logits, condition = model.encode(feats)
    losses = {"encoder_ce_loss": classification_loss(encoder_logits, labels, weights, soft),
              "encoder_mse_loss": smoothing_loss(encoder_logits),
              "encoder_boundary_loss": torch.zeros((), device=feats.device)}

    if model.detach_decoder:
        condition = condition.detach()
    t = torch.randint(0, model.num_timesteps, (1,), device=feats.device)
    noise = torch.randn(one_hot.shape, device=feats.device)
    x_t = model.q_sample(to_signal(one_hot, model.scale), t, noise).clamp(-model.scale, model.scale)
    mask = condition_mask(cond_type, labels.reshape(-1), boundary, rng)
    if mask is not None:
        condition = condition * mask
    decoder_logits = model.decoder(condition, t, from_signal(x_t, model.scale).float())
    losses.update({"decoder_ce_loss": classification_loss(decoder_logits, labels, weights, soft),
                   "decoder_mse_loss": smoothing_loss(decoder_logits),
                   "decoder_boundary_loss": boundary_loss(decoder_logits, boundary)})
    return losses
