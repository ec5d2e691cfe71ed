"""IDC's network: the pruned OpenAI U-Net inside the Brownian bridge, built from the official configs, and the
authors' checkpoint layout (``latest_model_400.pth``: ``{"epoch", "step", "model", "ema"}``).

The U-Net is ``ADMUNet`` (guided-diffusion's ``UNetModel``; IDC uses latent-diffusion's copy, whose keys and
outputs are identical). IDC's configs list ``attention_resolutions: (32, 16, 8)``, which that class reads as
*downsample rates*: with ``channel_mult`` (1, 4) or (1, 4, 8) the rates reached are 1, 2 (and 4), so the only
attention block is the middle block's. Parameter counts: 9,393,475 (CIFAR-10), 42,843,971 (CIFAR-100).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.checkpoint import CheckpointError, load_checkpoint_file, load_state_strict
from bench.io import sha256_file
from bench.methods.diffusion.adm import ADMUNet
from bench.methods.idc.bridge import BrownianBridge

# Template-IDC-cifar{10,100}.yaml, model.BB.params.UNetParams (condition_key "nocond": no conditioning input).
# dropout: the configs leave latent-diffusion's UNetModel default, 0.3 (ADMUNet's default is 0.0).
UNET_COMMON = dict(image_size=32, in_channels=3, model_channels=64, out_channels=3, num_res_blocks=1, dropout=0.3,
                   attention_resolutions=(32, 16, 8), conv_resample=True, dims=2, num_heads=8,
                   use_scale_shift_norm=True, resblock_updown=True)
UNET_PRESETS: dict[str, dict[str, Any]] = {
    "cifar10": dict(UNET_COMMON, channel_mult=(1, 4), num_head_channels=32),
    "cifar100": dict(UNET_COMMON, channel_mult=(1, 4, 8), num_head_channels=64),
}
# model.BB.params of both templates
BRIDGE_DEFAULTS = dict(num_timesteps=4, mt_type="linear", max_var=1.0, eta=1.0, objective="grad", skip_sample=True,
                       sample_type="linear", sample_step=4, loss_type="l1", inter_class_weight=0.2,
                       inter_class_loss=True)


def unet_config(preset: str | None = None, **overrides: Any) -> dict[str, Any]:
    """``ADMUNet`` kwargs: a preset (``cifar10``/``cifar100``) with overrides, or the overrides alone."""
    if preset is not None and preset not in UNET_PRESETS:
        raise ValueError(f"unknown IDC U-Net preset {preset!r}; choose one of {sorted(UNET_PRESETS)}")
    config = dict(UNET_PRESETS[preset]) if preset else {}
    config.update(overrides)
    return config


def build_idc(unet: dict[str, Any], bridge: dict[str, Any] | None = None) -> BrownianBridge:
    """The bridge around a fresh U-Net, with the official ``weights_init`` applied (N(0, 0.02) weights)."""
    from bench.methods.idc.bridge import weights_init

    model = BrownianBridge(ADMUNet(**unet), **{**BRIDGE_DEFAULTS, **(bridge or {})})
    model.apply(weights_init)
    return model


def load_idc_checkpoint(model: BrownianBridge, path: str | Path, use_ema: bool = True) -> dict[str, Any]:
    """Load an IDC checkpoint (the authors' ``latest_model_<epoch>.pth`` or ours, same layout) into ``model``.

    ``model`` holds the bridge's schedule buffers and ``denoise_fn.*``; ``ema`` (parameter name -> tensor, as the
    official ``EMA.shadow``) replaces the parameters when ``use_ema`` (the official test applies it). Returns
    provenance facts; a key mismatch names both key lists and the expected layout.
    """
    path = Path(path)
    checkpoint = load_checkpoint_file(path)
    layout = "a dict with 'model' (BrownianBridgeModel state dict: m_t, ..., denoise_fn.*) and 'ema'"
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise CheckpointError(f"{path}: expected IDC's checkpoint layout, {layout}; got "
                              f"{sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint).__name__}")
    load_state_strict(model, checkpoint["model"], path, hint="Check the U-Net preset (cifar10: channel_mult (1, 4); "
                      "cifar100: (1, 4, 8)) and the bridge settings.")
    ema = checkpoint.get("ema")
    if use_ema:
        if not isinstance(ema, dict):
            raise CheckpointError(f"{path} has no 'ema' weights; set method.use_ema=False to use the raw weights")
        params = dict(model.named_parameters())
        missing = sorted(set(params) - set(ema))
        if missing:
            raise CheckpointError(f"{path}: 'ema' lacks {len(missing)} parameter(s), e.g. {missing[:5]}")
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(ema[name])
    return {"path": str(path), "sha256": sha256_file(path), "weights": "ema" if use_ema else "model",
            "epoch": checkpoint.get("epoch"), "step": checkpoint.get("step")}
