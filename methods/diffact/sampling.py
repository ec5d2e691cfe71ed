"""DiffAct inference: DDIM from Gaussian noise to frame-wise class probabilities, seeded per video.

The official code seeds the global RNGs with the video's index before sampling (``set_sampling_seed``); here a
``torch.Generator`` seeded the same way draws the same numbers (CPU and CUDA alike) without touching global state.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from bench.methods.diffact.diffusion import ddim_time_pairs, from_signal, to_signal
from bench.methods.diffact.model import ASDiffusionModel


Guide = Callable[[torch.Tensor], torch.Tensor]  # x0 probabilities [B, C, T] -> adjusted probabilities in [0, 1]


def predict_start(model: ASDiffusionModel, condition: torch.Tensor, x_t: torch.Tensor,
                  t: torch.Tensor, guide: Guide | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(ε, x0) from the decoder: x_t is clamped and mapped to [0, 1], x0 = the decoder's probabilities (softmax,
    or sigmoid for multi-label models), adjusted by ``guide`` when given (DiffTriplet's association guidance),
    in signal space; ε the noise it implies."""
    event = from_signal(torch.clamp(x_t, -model.scale, model.scale), model.scale)
    x0 = model.probabilities(model.decoder(condition, t, event.float()))
    if guide is not None:
        x0 = guide(x0)
    x0 = torch.clamp(to_signal(x0, model.scale), -model.scale, model.scale)
    return model.noise_from_start(x_t, t, x0), x0


@torch.no_grad()
def ddim_sample(model: ASDiffusionModel, video_feats: torch.Tensor, seed: int | None = None,
                guide: Guide | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoder probabilities [B, C, T] after ``model.sampling_timesteps`` DDIM steps, and the encoder logits.

    The final step returns the predicted x0 (mapped back to [0, 1]); ``seed`` fixes the initial and per-step
    noise (the official rule is seed = the video's index in the test list); ``guide`` adjusts x0 at every step.
    """
    encoder_logits, condition = model.encode(video_feats)
    device = video_feats.device
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(int(seed))
    else:
        generator.seed()
    x_t = torch.randn((video_feats.shape[0], model.num_classes, video_feats.shape[2]), generator=generator,
                      device=device)
    x0 = x_t
    for t, t_next in ddim_time_pairs(model.num_timesteps, model.sampling_timesteps):
        eps, x0 = predict_start(model, condition, x_t, torch.full((1,), t, device=device, dtype=torch.long), guide)
        if t_next < 0:
            break
        noise = torch.randn(x_t.shape, generator=generator, device=device, dtype=x_t.dtype)
        x_t = model.ddim_step(x0, eps, t, t_next, model.eta, noise)
    return from_signal(x0, model.scale), encoder_logits
