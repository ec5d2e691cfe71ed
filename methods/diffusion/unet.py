"""The original DDPM "simple" UNet as a diffusers ``UNet2DModel``, loaded from local files only.

The Adaptive Momentum Sampler and DDIM papers sample with the DDPM ε-model of Ho et al. (2020) in its PyTorch
port (pesser/pytorch_diffusion, ermongroup/ddim ``models/diffusion.py`` ``Model``, the AMS repo's
``models/DDPM.py`` ``DdpmModel``). :func:`ddpm_unet_config` gives the ``UNet2DModel`` config with the same
architecture (sinusoidal embedding [sin | cos] with frequencies 10000^(-k/(d/2-1)) = ``flip_sin_to_cos=False,
freq_shift=1``; GroupNorm(32, eps=1e-6); single-head attention after every resnet of a level whose resolution is in
``attn_resolutions``; stride-2 downsampling conv after (0, 1, 0, 1) zero padding = ``downsample_padding=0``;
mid block resnet-attention-resnet; up levels with ``num_res_blocks + 1`` resnets), and
:func:`convert_ddpm_state_dict` renames an original checkpoint's keys to it:

=============================================  =====================================================
original key (``L`` = ``len(ch_mult)``)         ``UNet2DModel`` key
=============================================  =====================================================
``conv_in.*``                                   ``conv_in.*``
``temb.dense.0.*`` / ``temb.dense.1.*``         ``time_embedding.linear_1.*`` / ``time_embedding.linear_2.*``
``down.{i}.block.{j}.norm1.*``                  ``down_blocks.{i}.resnets.{j}.norm1.*``
``down.{i}.block.{j}.conv1.*``                  ``down_blocks.{i}.resnets.{j}.conv1.*``
``down.{i}.block.{j}.temb_proj.*``              ``down_blocks.{i}.resnets.{j}.time_emb_proj.*``
``down.{i}.block.{j}.norm2.*`` / ``conv2.*``    ``down_blocks.{i}.resnets.{j}.norm2.*`` / ``conv2.*``
``down.{i}.block.{j}.nin_shortcut.*``           ``down_blocks.{i}.resnets.{j}.conv_shortcut.*``
``down.{i}.attn.{j}.norm.*``                    ``down_blocks.{i}.attentions.{j}.group_norm.*``
``down.{i}.attn.{j}.q`` / ``k`` / ``v``         ``down_blocks.{i}.attentions.{j}.to_q`` / ``to_k`` / ``to_v`` (*)
``down.{i}.attn.{j}.proj_out``                  ``down_blocks.{i}.attentions.{j}.to_out.0`` (*)
``down.{i}.downsample.conv.*``                  ``down_blocks.{i}.downsamplers.0.conv.*``
``mid.block_1.*`` / ``mid.block_2.*``           ``mid_block.resnets.0.*`` / ``mid_block.resnets.1.*``
``mid.attn_1.*``                                ``mid_block.attentions.0.*``
``up.{i}.block.{j}.*``                          ``up_blocks.{L-1-i}.resnets.{j}.*``
``up.{i}.attn.{j}.*``                           ``up_blocks.{L-1-i}.attentions.{j}.*``
``up.{i}.upsample.conv.*``                      ``up_blocks.{L-1-i}.upsamplers.0.conv.*``
``norm_out.*``                                  ``conv_norm_out.*``
``conv_out.*``                                  ``conv_out.*``
=============================================  =====================================================

Resnet and attention sub-names inside ``mid`` and ``up`` map as in ``down``. (*) The original attention
projections are 1x1 convolutions, weight ``[C, C, 1, 1]``; diffusers uses ``Linear``, weight ``[C, C]`` (same
numbers, reshaped; biases unchanged). The original ``up`` list is built from the lowest resolution and prepended,
so ``up[i]`` works at ``resolution / 2**i`` while diffusers' ``up_blocks[k]`` runs k-th, from the lowest resolution:
``k = L - 1 - i``. A leading ``module.`` (DataParallel) is stripped. Every key must be consumed.

:func:`load_unet` and :func:`load_scheduler_config` read a diffusers pipeline folder, a bare model folder, a Hugging
Face repo id from the local cache only, or an original checkpoint with a preset (:data:`DDPM_PRESETS`); a missing
file raises :class:`ModelLayoutError` naming the path, the expected layouts and how to get the weights.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from bench.checkpoint import load_checkpoint_file
from bench.io import sha256_file

if TYPE_CHECKING:
    from diffusers import UNet2DModel

WEIGHTS_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
CHECKPOINT_SUFFIXES = (".ckpt", ".pth", ".pt")

_PESSER = "pesser/pytorch_diffusion (TF DDPM checkpoints of Ho et al. converted to PyTorch)"
DDPM_PRESETS: dict[str, dict[str, Any]] = {
    # model: the original Model's kwargs (AMS configs/*.yaml, model.ddpm.* and data.img_size as resolution).
    "cifar10": {
        "model": {"resolution": 32, "in_channels": 3, "out_ch": 3, "ch": 128, "ch_mult": (1, 2, 2, 2),
                  "num_res_blocks": 2, "attn_resolutions": (16,), "dropout": 0.1, "resamp_with_conv": True},
        "var_type": "fixedlarge", "ema_rate": 0.9999,
        "checkpoint": "model-790000.ckpt", "origin": _PESSER, "ams_config": "configs/CIFAR10.yaml",
        "url": "https://heibox.uni-heidelberg.de/seafhttp/files/227fbbbb-2938-422b-abc2-901291919cfd/model-790000.ckpt",
        "diffusers_repo": "google/ddpm-cifar10-32",
    },
    "celeba": {
        "model": {"resolution": 64, "in_channels": 3, "out_ch": 3, "ch": 128, "ch_mult": (1, 2, 2, 2, 4),
                  "num_res_blocks": 2, "attn_resolutions": (16,), "dropout": 0.1, "resamp_with_conv": True},
        "var_type": "fixedlarge", "ema_rate": 0.9999,
        # ermongroup/ddim training state: [model, optimizer, epoch, step, ema]; the loader takes the EMA entry.
        "checkpoint": "ckpt.pth", "origin": "ermongroup/ddim (CelebA 64x64, trained by the DDIM authors)",
        "ams_config": "configs/CELEBA.yaml",
        "url": "https://drive.google.com/file/d/1R_H-fJYXSH79wfSKs9D-fuKQVan5L-GR/view?usp=sharing",
        "diffusers_repo": None,
    },
    "lsun_bedroom": {
        "model": {"resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128, "ch_mult": (1, 1, 2, 2, 4, 4),
                  "num_res_blocks": 2, "attn_resolutions": (16,), "dropout": 0.0, "resamp_with_conv": True},
        "var_type": "fixedsmall", "ema_rate": 0.999,
        "checkpoint": "model-2388000.ckpt", "origin": _PESSER, "ams_config": "configs/BEDROOM.yaml",
        "url": "https://heibox.uni-heidelberg.de/seafhttp/files/e21906d8-aa92-4a52-a6b1-67b5a31924c0/model-2388000.ckpt",
        "diffusers_repo": "google/ddpm-bedroom-256",
    },
    "lsun_church": {
        "model": {"resolution": 256, "in_channels": 3, "out_ch": 3, "ch": 128, "ch_mult": (1, 1, 2, 2, 4, 4),
                  "num_res_blocks": 2, "attn_resolutions": (16,), "dropout": 0.0, "resamp_with_conv": True},
        "var_type": "fixedsmall", "ema_rate": 0.999,
        "checkpoint": "model-4432000.ckpt", "origin": _PESSER, "ams_config": "configs/CHURCH.yaml",
        "url": "https://heibox.uni-heidelberg.de/seafhttp/files/7c9a8332-903a-443b-a4d7-5f9378ea487f/model-4432000.ckpt",
        "diffusers_repo": "google/ddpm-church-256",
    },
}

# Original-config keys that do not change the network (AMS/ddim yaml ``model.ddpm`` entries) and aliases.
_NON_ARCH_KEYS = frozenset({"type", "var_type", "ema_rate", "ema", "model_type", "num_timesteps", "initial_checkpoint"})
_ALIASES = {"img_size": "resolution", "image_size": "resolution"}
_ARCH_KEYS = ("resolution", "in_channels", "out_ch", "ch", "ch_mult", "num_res_blocks", "attn_resolutions", "dropout",
              "resamp_with_conv")
# UNet2DModel config entries that fix the architecture; a diffusers folder loaded with a preset must agree on them.
# attention_head_dim matters: a config.json without it gets UNet2DModel's default 8 (multi-head), not one head.
_COMPARED = ("sample_size", "in_channels", "out_channels", "block_out_channels", "layers_per_block", "down_block_types",
             "up_block_types", "time_embedding_type", "flip_sin_to_cos", "freq_shift", "downsample_padding", "norm_eps",
             "norm_num_groups", "attention_head_dim", "resnet_time_scale_shift", "add_attention")

LAYOUT = """
(a) diffusers pipeline folder (DDPMPipeline.save_pretrained):
    <root>/model_index.json
    <root>/unet/config.json
    <root>/unet/diffusion_pytorch_model.safetensors   (or .bin)
    <root>/scheduler/scheduler_config.json
(b) bare model folder (UNet2DModel.save_pretrained; the google/ddpm-* repos):
    <root>/config.json
    <root>/diffusion_pytorch_model.safetensors        (or .bin)
    <root>/scheduler_config.json
(c) Hugging Face repo id (e.g. google/ddpm-cifar10-32), local cache only:
    $HF_HUB_CACHE (default $HF_HOME/hub, ~/.cache/huggingface/hub)/models--google--ddpm-cifar10-32/
        refs/main                  (commit hash of the snapshot)
        snapshots/<commit>/...     (layout (a) or (b))
(d) original DDPM checkpoint (.ckpt/.pth/.pt) with preset=... or original_config=...:
    <file>   state dict with conv_in.weight, temb.dense.0.weight, down.0.block.0.norm1.weight, ...
"""


class ModelLayoutError(FileNotFoundError):
    """Model weights are missing or not in a known layout; the message names the path, the layouts and the fix."""

    def __init__(self, path: str | Path, problem: str, fix: str) -> None:
        message = (f"DDPM UNet: {problem}\n  path: {path}\n  expected layout (one of):\n"
                   + "\n".join(f"    {line}" for line in LAYOUT.strip().splitlines())
                   + f"\n  how to get it: {fix.strip()}")
        super().__init__(message)
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.args[0])


# --------------------------------------------------------------------------------------------------- config


def ddpm_unet_config(resolution: int, in_channels: int = 3, out_ch: int = 3, ch: int = 128,
                     ch_mult: tuple[int, ...] = (1, 2, 2, 2), num_res_blocks: int = 2,
                     attn_resolutions: tuple[int, ...] = (16,), dropout: float = 0.1,
                     resamp_with_conv: bool = True) -> dict[str, Any]:
    """The ``UNet2DModel`` config with the same architecture as the original DDPM ``Model(**kwargs)``, so that
    :func:`convert_ddpm_state_dict` output loads into it strictly and reproduces the original outputs."""
    ch_mult = tuple(int(m) for m in ch_mult)
    if not ch_mult or ch_mult[0] != 1:
        raise ValueError(f"ch_mult must start with 1 (got {ch_mult}): UNet2DModel's conv_in and time embedding "
                         "use block_out_channels[0] channels where the original uses ch")
    if not resamp_with_conv:
        raise ValueError("resamp_with_conv=False (average-pool / plain nearest resampling) has no UNet2DModel "
                         "equivalent; every released DDPM checkpoint uses resamp_with_conv=True")
    widths = [ch * m for m in ch_mult]
    if any(w % 32 for w in widths):
        raise ValueError(f"channel widths {widths} must be multiples of 32 (GroupNorm with 32 groups)")
    if resolution % 2 ** (len(ch_mult) - 1):
        raise ValueError(f"resolution {resolution} is not divisible by 2**{len(ch_mult) - 1}")
    attn = {int(r) for r in attn_resolutions}
    has_attn = [resolution // 2**level in attn for level in range(len(ch_mult))]
    return {
        "sample_size": int(resolution),
        "in_channels": int(in_channels),
        "out_channels": int(out_ch),
        "center_input_sample": False,
        "time_embedding_type": "positional",
        "flip_sin_to_cos": False,  # [sin | cos]
        "freq_shift": 1,  # frequencies exp(-log(10000) * k / (half - 1))
        "down_block_types": ["AttnDownBlock2D" if a else "DownBlock2D" for a in has_attn],
        "mid_block_type": "UNetMidBlock2D",
        "up_block_types": ["AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(has_attn)],
        "block_out_channels": widths,
        "layers_per_block": int(num_res_blocks),
        "mid_block_scale_factor": 1,
        "downsample_padding": 0,  # Downsample2D pads (0, 1, 0, 1) itself, like the original
        "downsample_type": "conv",
        "upsample_type": "conv",
        "dropout": float(dropout),
        "act_fn": "silu",
        "attention_head_dim": None,  # one head with all channels
        "norm_num_groups": 32,
        "attn_norm_num_groups": None,
        "norm_eps": 1e-6,
        "resnet_time_scale_shift": "default",
        "add_attention": True,
    }


def original_model_kwargs(original_config: Mapping[str, Any]) -> dict[str, Any]:
    """The original ``Model`` kwargs from a config dict: accepts ``img_size``/``image_size`` for ``resolution``
    and ignores the yaml's non-architecture entries (``var_type``, ``ema_rate``, ...); unknown keys are errors."""
    kwargs: dict[str, Any] = {}
    for key, value in original_config.items():
        key = _ALIASES.get(key, key)
        if key in _NON_ARCH_KEYS:
            continue
        if key not in _ARCH_KEYS:
            raise ValueError(f"original_config: unknown key {key!r}; expected some of {list(_ARCH_KEYS)}")
        kwargs[key] = value
    if "resolution" not in kwargs:
        raise ValueError("original_config needs 'resolution' (or 'img_size'): the image size the model was trained on")
    return kwargs


def get_preset(name: str) -> dict[str, Any]:
    """The :data:`DDPM_PRESETS` entry ``name``, with an error listing the known names."""
    if name not in DDPM_PRESETS:
        raise ValueError(f"unknown DDPM preset {name!r}; known: {sorted(DDPM_PRESETS)}")
    return DDPM_PRESETS[name]


def original_scheduler_config(var_type: str) -> dict[str, Any]:
    """The DDPMScheduler config of the original DDPM process: linear betas 1e-4..0.02 over T=1000, ε-prediction,
    no clipping of x0 (the AMS sampler never clips); ``var_type`` fixedlarge/fixedsmall → fixed_large/fixed_small."""
    variance = {"fixedlarge": "fixed_large", "fixedsmall": "fixed_small"}
    if var_type not in variance:
        raise ValueError(f"var_type must be one of {sorted(variance)}, got {var_type!r}")
    return {"_class_name": "DDPMScheduler", "num_train_timesteps": 1000, "beta_start": 0.0001, "beta_end": 0.02,
            "beta_schedule": "linear", "trained_betas": None, "variance_type": variance[var_type],
            "clip_sample": False, "prediction_type": "epsilon"}


# ------------------------------------------------------------------------------------------------- key map

_RESNET_SUB = {"norm1": "norm1", "conv1": "conv1", "time_emb_proj": "temb_proj", "norm2": "norm2", "conv2": "conv2",
               "conv_shortcut": "nin_shortcut"}
_ATTN_SUB = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
_ATTN_LINEAR = re.compile(r"attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$")


def _sub(name: str, table: dict[str, str]) -> str:
    for new, old in table.items():
        if name.startswith(new + "."):
            return old + name[len(new):]
    raise KeyError(name)


def _diffusers_to_original(name: str, levels: int) -> str:
    """The original DDPM name of a ``UNet2DModel`` parameter (the inverse of the module docstring's table)."""
    fixed = {"conv_in.": "conv_in.", "time_embedding.linear_1.": "temb.dense.0.",
             "time_embedding.linear_2.": "temb.dense.1.", "conv_norm_out.": "norm_out.", "conv_out.": "conv_out.",
             "mid_block.resnets.0.": "mid.block_1.", "mid_block.resnets.1.": "mid.block_2.",
             "mid_block.attentions.0.": "mid.attn_1."}
    for new, old in fixed.items():
        if name.startswith(new):
            rest = name[len(new):]
            if new.startswith("mid_block.resnets"):
                rest = _sub(rest, _RESNET_SUB)
            elif new.startswith("mid_block.attentions"):
                rest = _sub(rest, _ATTN_SUB)
            return old + rest
    match = re.fullmatch(r"(down|up)_blocks\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)", name)
    if match is None:
        raise KeyError(name)
    side, index, kind, j, rest = match.groups()
    level = int(index) if side == "down" else levels - 1 - int(index)
    if kind == "resnets":
        return f"{side}.{level}.block.{j}.{_sub(rest, _RESNET_SUB)}"
    if kind == "attentions":
        return f"{side}.{level}.attn.{j}.{_sub(rest, _ATTN_SUB)}"
    return f"{side}.{level}.{'downsample' if side == 'down' else 'upsample'}.{rest}"


def _meta_unet(config: Mapping[str, Any]) -> UNet2DModel:
    """A ``UNet2DModel`` without storage (meta device): its state-dict names and shapes, built in milliseconds."""
    from diffusers import UNet2DModel

    with torch.device("meta"):
        return UNet2DModel.from_config(dict(config))


def ddpm_key_map(config: Mapping[str, Any]) -> dict[str, str]:
    """Original key → ``UNet2DModel`` key for every parameter of the model ``config`` describes."""
    model = _meta_unet(config)
    levels = len(model.config.block_out_channels)
    return {_diffusers_to_original(name, levels): name for name in model.state_dict()}


def _preview(keys: list[str], n: int = 20) -> str:
    return ", ".join(keys[:n]) + (f", ... (+{len(keys) - n} more)" if len(keys) > n else "")


def convert_ddpm_state_dict(state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> dict[str, Any]:
    """Rename an original DDPM state dict to ``UNet2DModel(**config)`` names (module docstring table), reshaping
    1x1-conv attention weights to Linear; any unknown, missing or wrongly shaped key is a ValueError listing them."""
    model = _meta_unet(config)
    expected = model.state_dict()
    levels = len(model.config.block_out_channels)
    key_map = {_diffusers_to_original(name, levels): name for name in expected}
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state_dict.items()}
    unknown = sorted(set(state) - set(key_map))
    missing = [k for k in key_map if k not in state]
    if unknown or missing:
        raise ValueError("original DDPM state dict does not match the UNet config "
                         f"(block_out_channels={list(model.config.block_out_channels)}, "
                         f"layers_per_block={model.config.layers_per_block}, "
                         f"sample_size={model.config.sample_size}):\n"
                         f"  unknown keys ({len(unknown)}): {_preview(unknown) or 'none'}\n"
                         f"  missing keys ({len(missing)}): {_preview(missing) or 'none'}")
    converted: dict[str, Any] = {}
    wrong: list[str] = []
    for old, new in key_map.items():
        value = state[old]
        if _ATTN_LINEAR.search(new) and value.ndim == 4 and value.shape[2:] == (1, 1):
            value = value.reshape(value.shape[0], value.shape[1])
        if tuple(value.shape) != tuple(expected[new].shape):
            wrong.append(f"{old} {tuple(value.shape)} -> {new} {tuple(expected[new].shape)}")
        converted[new] = value
    if wrong:
        raise ValueError(f"original DDPM state dict has {len(wrong)} shape mismatches: {_preview(wrong, 10)}")
    return converted


# ------------------------------------------------------------------------------------------------- loading


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder from the environment now (HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, HF_HOME)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.path.expandvars(os.environ[var])).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.path.expandvars(os.environ["HF_HOME"])).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def locate_model_source(source: str | Path, preset_name: str | None = None) -> tuple[Path, dict[str, Any]]:
    """A local path for ``source``: the path itself, or the cached snapshot folder of a repo id."""
    path = Path(source).expanduser()
    if path.exists():
        return path, {}
    text = str(source)
    if isinstance(source, str) and _REPO_ID.fullmatch(text) and path.suffix.lower() not in CHECKPOINT_SUFFIXES:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

        cache = hf_hub_cache()
        try:
            folder = Path(snapshot_download(text, cache_dir=cache, local_files_only=True))
        except (LocalEntryNotFoundError, HFValidationError) as error:
            storage = cache / f"models--{text.replace('/', '--')}"
            raise ModelLayoutError(storage, f"{text!r} is neither an existing path nor a repo in the local Hugging "
                                   f"Face cache {cache} ({type(error).__name__}: {error})",
                                   f"on a machine with internet run `huggingface-cli download {text}` (or "
                                   f"`hf download {text}`), then copy its cache folder {storage.name} into {cache} "
                                   "(or set HF_HUB_CACHE / HF_HOME to the copied cache), or pass the path of a "
                                   "downloaded folder") from error
        return folder, {"repo_id": text, "revision": folder.name}
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        raise ModelLayoutError(path, "checkpoint file not found", _checkpoint_fix(path, preset_name))
    raise ModelLayoutError(path, "model folder not found", _folder_fix())


def _folder_fix() -> str:
    return ("save a model with DDPMPipeline(unet, scheduler).save_pretrained(<root>), or download a diffusers repo "
            "(e.g. `huggingface-cli download google/ddpm-cifar10-32 --local-dir <root>` on a machine with internet) "
            "and copy it here; original checkpoints: " + "; ".join(
                f"{name}: {p['checkpoint']} from {p['url']}" for name, p in DDPM_PRESETS.items()))


def _checkpoint_fix(path: Path, preset_name: str | None = None) -> str:
    if preset_name is not None and preset_name in DDPM_PRESETS:
        entry = DDPM_PRESETS[preset_name]
        return f"download {entry['checkpoint']} from {entry['url']} ({entry['origin']}) and pass its path"
    for entry in DDPM_PRESETS.values():
        if entry["checkpoint"] == path.name:
            return f"download {entry['checkpoint']} from {entry['url']} ({entry['origin']}) and pass its path"
    return _folder_fix()


def _model_folder(root: Path, subfolder: str | None) -> tuple[Path, str]:
    """The folder holding the UNet's config.json and weights, and the layout name."""
    if not root.is_dir():
        raise ModelLayoutError(root, "not a folder and not an original checkpoint (.ckpt/.pth/.pt)", _folder_fix())
    if subfolder is not None:
        folder = root / subfolder
    elif (root / "unet" / "config.json").is_file():
        folder = root / "unet"
    else:
        folder = root
    layout = "diffusers_pipeline" if folder != root and (root / "model_index.json").is_file() else "diffusers_model"
    if not (folder / "config.json").is_file():
        raise ModelLayoutError(folder / "config.json", "no UNet config.json", _folder_fix())
    return folder, layout


def _weights_file(folder: Path) -> Path:
    for name in WEIGHTS_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise ModelLayoutError(folder / WEIGHTS_NAMES[0], f"no weights file ({' or '.join(WEIGHTS_NAMES)})",
                           _folder_fix())


def _original_state_dict(checkpoint: Any) -> tuple[dict[str, Any], str]:
    """The weights in an original checkpoint and where they were: a plain state dict (pesser's files), the EMA
    entry of an ermongroup/ddim training state ``[model, optimizer, epoch, step, ema]``, or a wrapping dict."""
    if isinstance(checkpoint, (list, tuple)):
        if len(checkpoint) >= 5 and isinstance(checkpoint[-1], dict):
            return checkpoint[-1], "states[-1] (ddim EMA weights)"
        if checkpoint and isinstance(checkpoint[0], dict):
            return checkpoint[0], "states[0] (ddim raw weights; no EMA entry)"
    if isinstance(checkpoint, dict):
        if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
            return checkpoint, "state_dict"
        for key in ("ema", "model_ema", "ema_model", "state_dict", "model"):
            if isinstance(checkpoint.get(key), dict):
                return checkpoint[key], key
    raise ValueError(f"cannot find DDPM weights in a checkpoint holding a {type(checkpoint).__name__}")


def _check_against(model_config: Mapping[str, Any], reference: Mapping[str, Any], what: str) -> None:
    diffs = [f"{k}: {model_config.get(k)!r} != {reference[k]!r}" for k in _COMPARED
             if _plain(model_config.get(k)) != _plain(reference[k])]
    if diffs:
        raise ValueError(f"the loaded UNet does not match {what}: " + "; ".join(diffs))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def _load_original(path: Path, preset_name: str | None, original_config: Mapping[str, Any] | None,
                   dtype: torch.dtype | None) -> tuple[UNet2DModel, dict[str, Any]]:
    from diffusers import UNet2DModel

    if original_config is None and preset_name is None:
        raise ValueError(f"{path} is an original DDPM checkpoint: pass preset= (one of {sorted(DDPM_PRESETS)}) or "
                         "original_config= (the Model kwargs) to say which architecture it holds")
    kwargs = original_model_kwargs(original_config if original_config is not None else get_preset(preset_name)["model"])
    config = ddpm_unet_config(**kwargs)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state, entry = load_file(str(path)), "state_dict"
    else:
        state, entry = _original_state_dict(load_checkpoint_file(path))
    converted = convert_ddpm_state_dict(state, config)
    model = UNet2DModel(**config)
    if dtype is None:
        model.load_state_dict(converted, strict=True)
    else:  # cast the weights, not the module: ModelMixin.to(dtype) warns about fp32 modules this model lacks
        model.load_state_dict({k: v.to(dtype) for k, v in converted.items()}, strict=True, assign=True)
    facts = {"format": "original_checkpoint", "path": str(path), "weights_file": str(path),
             "sha256": sha256_file(path), "state_dict_entry": entry, "original_config": _jsonable(kwargs)}
    return model.eval(), facts


def _jsonable(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}


def load_unet(source: str | Path, *, preset: str | None = None, original_config: dict | None = None,
              subfolder: str | None = None, dtype: torch.dtype | None = None) -> tuple[UNet2DModel, dict[str, Any]]:
    """A ``UNet2DModel`` (eval mode) from local files only, and provenance facts (format, path, weights file, its
    sha256, repo_id and revision when from the HF cache). ``source``: a pipeline folder, a bare model folder, a repo
    id in the local HF cache, or an original checkpoint with ``preset``/``original_config`` (key map, strict)."""
    from diffusers import UNet2DModel

    preset_name = preset
    root, cache_facts = locate_model_source(source, preset_name)
    if root.is_file():
        model, facts = _load_original(root, preset_name, original_config, dtype)
        return model, {**facts, "preset": preset_name}
    folder, layout = _model_folder(root, subfolder)
    weights = _weights_file(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if config.get("_class_name", "UNet2DModel") != "UNet2DModel":
        raise ValueError(f"{folder / 'config.json'} describes a {config['_class_name']}, not a UNet2DModel")
    model, info = UNet2DModel.from_pretrained(
        str(folder), local_files_only=True, output_loading_info=True, torch_dtype=dtype,
        use_safetensors=weights.suffix == ".safetensors",  # the file hashed is the file loaded
        low_cpu_mem_usage=importlib.util.find_spec("accelerate") is not None)  # without accelerate diffusers warns
    problems = {k: v for k, v in info.items() if v}
    if problems:
        raise ValueError(f"{weights} does not match its config.json: {problems}")
    if original_config is not None or preset_name is not None:
        kwargs = original_model_kwargs(original_config if original_config is not None
                                       else get_preset(preset_name)["model"])
        what = f"preset {preset_name!r}" if preset_name else "original_config"
        _check_against(model.config, ddpm_unet_config(**kwargs), what)
    relative = str(folder.relative_to(root)) if folder != root else None
    facts = {"format": layout, "path": str(root), "subfolder": relative,
             "weights_file": str(weights), "sha256": sha256_file(weights), "preset": preset_name, **cache_facts}
    return model.eval(), facts


def _preset_for_file(path: Path) -> str | None:
    return next((name for name, entry in DDPM_PRESETS.items() if entry["checkpoint"] == path.name
                 and name != "celeba"), None)  # ddim's "ckpt.pth" is too generic a name to identify CelebA


def load_scheduler_config(source: str | Path, subfolder: str | None = None, *,
                          preset: str | None = None) -> dict[str, Any]:
    """The scheduler config stored with a model (``scheduler/scheduler_config.json`` of a pipeline folder, else
    ``scheduler_config.json`` at the root, also inside a cached repo); for an original checkpoint, the DDPM process of
    ``preset`` (or of the preset whose official file name it has)."""
    root, _ = locate_model_source(source, preset)
    if root.is_file():
        name = preset or _preset_for_file(root)
        if name is None:
            raise ValueError(f"{root} is an original DDPM checkpoint: pass preset= (one of {sorted(DDPM_PRESETS)}) "
                             "to choose its scheduler (variance type)")
        return original_scheduler_config(get_preset(name)["var_type"])
    if not root.is_dir():
        raise ModelLayoutError(root, "model folder not found", _folder_fix())
    candidates = ([root / subfolder / "scheduler_config.json"] if subfolder is not None
                  else [root / "scheduler" / "scheduler_config.json", root / "scheduler_config.json"])
    for candidate in candidates:
        if candidate.is_file():
            return json.loads(candidate.read_text(encoding="utf-8"))
    raise ModelLayoutError(candidates[0], "no scheduler_config.json", _folder_fix())
