"""DiffTriplet's training: DiffAct's loop (``bench.methods.diffact.training.train_loop``) with multi-label losses.

Per video: the encoder's and the decoder's logits over the joint [ivt | i | v | t] channels against the 0/1 joint
target with a (optionally ``pos_weight``-ed) BCE, weights 0.5 each (DiffTriplet-Anticipation defaults; the paper's
values are unknown). The decoder denoises the joint target diffused in [-s, s] ("association learning in the joint
space": one model over triplets and their components); the condition is kept (``full``) or zeroed (``zero``).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bench.datasets.cholec_triplet import JOINT_SLICES
from bench.methods.diffact.diffusion import from_signal, to_signal
from bench.methods.diffact.model import ASDiffusionModel
from bench.methods.diffact.training import LoopSettings, train_loop

LOSS_NAMES = ("encoder_bce_loss", "decoder_bce_loss")
TRIPLET_COND_TYPES = ("full", "zero")  # DiffAct's boundary/segment masks need single-label frames


@dataclass
class TripletTrainSettings(LoopSettings):
    """The loop's keys plus the loss weights and the components whose channels get BCE ``pos_weight``."""

    loss_weights: dict[str, float] = field(default_factory=lambda: {"encoder_bce_loss": 0.5,
                                                                    "decoder_bce_loss": 0.5})
    class_weighting: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if sorted(self.loss_weights) != sorted(LOSS_NAMES):
            raise ValueError(f"loss_weights must name exactly {LOSS_NAMES}, got {sorted(self.loss_weights)}")
        unknown = [c for c in self.class_weighting if c not in JOINT_SLICES]
        if unknown:
            raise ValueError(f"class_weighting {unknown}: choose components from {list(JOINT_SLICES)}")


def pos_weights(targets: Sequence[torch.Tensor], components: Sequence[str]) -> torch.Tensor:
    """BCE ``pos_weight`` [131]: negatives / (positives + 10) over all training frames for the channels of
    ``components``, 1 elsewhere (the derivative's ``get_class_weights``)."""
    frames = torch.cat([torch.as_tensor(t, dtype=torch.float64) for t in targets])
    positives = frames.sum(0)
    weights = torch.ones(frames.shape[1], dtype=torch.float64)
    for component in components:
        part = JOINT_SLICES[component]
        weights[part] = (frames.shape[0] - positives[part]) / (positives[part] + 10)
    return weights.float()


def joint_losses(model: ASDiffusionModel, feats: torch.Tensor, target: torch.Tensor, cond_type: str,
                 pos_weight: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """Both BCE terms for one video: ``feats`` [1, D, T], ``target`` [1, 131, T] in {0, 1}."""
    weight = None if pos_weight is None else pos_weight.to(feats.device)[:, None]
    encoder_logits, condition = model.encode(feats)
    if model.detach_decoder:
        condition = condition.detach()
    t = torch.randint(0, model.num_timesteps, (1,), device=feats.device)
    noise = torch.randn(target.shape, device=feats.device)
    x_t = model.q_sample(to_signal(target, model.scale), t, noise).clamp(-model.scale, model.scale)
    if cond_type == "zero":
        condition = torch.zeros_like(condition)
    elif cond_type != "full":
        raise ValueError(f"cond_type {cond_type!r}; DiffTriplet supports {TRIPLET_COND_TYPES}")
    decoder_logits = model.decoder(condition, t, from_signal(x_t, model.scale).float())
    return {"encoder_bce_loss": F.binary_cross_entropy_with_logits(encoder_logits, target, pos_weight=weight),
            "decoder_bce_loss": F.binary_cross_entropy_with_logits(decoder_logits, target, pos_weight=weight)}


def train_difftriplet(model: ASDiffusionModel, targets: Sequence[torch.Tensor],
                      load_features: Callable[[int], torch.Tensor], work_dir: Path, device: torch.device,
                      settings: TripletTrainSettings, *, resume: bool = True,
                      evaluate: Callable[[torch.nn.Module], dict[str, float]] | None = None) -> Path:
    """Train on videos given by their joint targets [T, 131] and ``load_features(i)`` ([S, D, T], S spatial
    versions; one is drawn per step); returns the last ``epoch-<e>.model`` (see ``train_loop``)."""
    joint = [torch.as_tensor(t, dtype=torch.float32).T.unsqueeze(0) for t in targets]
    weight = pos_weights(targets, settings.class_weighting) if settings.class_weighting else None

    def step_losses(index: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        features = load_features(index)
        version = int(rng.integers(features.shape[0]))
        feats = features[version].unsqueeze(0).float().to(device)
        if feats.shape[-1] != joint[index].shape[-1]:
            raise ValueError(f"video {index}: {feats.shape[-1]} feature frames but {joint[index].shape[-1]} labels")
        cond_type = str(rng.choice(model.cond_types))
        return joint_losses(model, feats, joint[index].to(device), cond_type, weight)

    return train_loop(model, len(joint), step_losses, settings.loss_weights, work_dir, device, settings,
                      resume=resume, evaluate=evaluate, desc="DiffTriplet")
