"""DPMs-ANT adaptors inserted into the project's two DDPM backbones, the rest frozen, and saved on their own.

Where the official code (ShinyGua/DPMs-ANT 65f00ba) puts them, each adding its output to a block's output:

- every ResNet block: ``adaptor(x, temb)`` of the block's input ``x`` and the raw time embedding, added after the
  residual sum (``model/DDPM/diffusion.py`` ResnetBlock ``return x + h + adapter_out``; guided-diffusion
  ``ResBlock``: the input after the block's own up/down resampling, ``skip_connection(x) + h + adapter_out``);
- every attention block: ``adaptor(x)`` without time embedding (``x + h_ + adapter_out``);
- one end adaptor on the features entering the output head, added to the model output (DDPM ``end_adapter``:
  ``conv_out(...) + end_adapter(h)``; guided-diffusion ``out_adapter``, added to the first 3 channels when the model
  also predicts variances).

Backbones: (a) the DDPM "simple" UNet as the project loads it (:func:`bench.methods.diffusion.unet.load_unet`, a
diffusers ``UNet2DModel``: ``ResnetBlock2D`` / ``Attention`` blocks, ``conv_norm_out`` → ``conv_out`` head), the
architecture of LSUN Church's ``CHURCH.ckpt``; (b) guided-diffusion's U-Net, :class:`~bench.methods.diffusion.adm.
ADMUNet` (``ResBlock`` / ``AttentionBlock``, ``out`` head). The backbones are not rewritten: each adaptor is
registered as a child ``adaptor`` of its block (``end_adaptor`` on the model) and a forward hook adds its output, so
the backbone's own keys and checkpoints are untouched. Downsampling/upsampling layers get no adaptor (as the code).

Trainable share, measured with this module on the meta device (equal, parameter for parameter and key shape for key
shape, to the official modules built from 65f00ba): LSUN Church DDPM (ch 128, ch_mult 1,1,2,2,4,4, attention at 16,
113.67M backbone parameters, 39 adaptors) 8.14% with the official dim 32, 4.16% with the fork's dim 16 (dim 4:
1.09%), against the paper's 1.3%; guided-diffusion ``256x256_diffusion_uncond`` 4.83% (dim 32) / 2.46% (dim 16).
The 3x3 down/up convs hold about 90% of the adaptor parameters.

Deviation: with a learned-variance guided model (6 output channels) the official ``UNetModel`` returns only the ε
channels (``self.out(h)[:, :3] + adapter_out``); here the variance channels stay in the output, unadapted.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.checkpoint import CheckpointError, load_checkpoint_file
from bench.io import atomic_torch_save, sha256_json
from bench.methods.dpms_ant.adaptor import Adaptor, AdaptorConfig

ADAPTOR_FILE_FORMAT = "dpms_ant_adaptors/1"
BACKBONE_KINDS = ("ddpm_unet", "adm")
END_ADAPTOR = "end_adaptor"

_CONFIG_ATTR = "_dpms_adaptor_config"
_HANDLES_ATTR = "_dpms_adaptor_hooks"


def backbone_kind(model: nn.Module) -> str:
    """``"ddpm_unet"`` for a diffusers ``UNet2DModel``, ``"adm"`` for an :class:`ADMUNet`; else a ValueError."""
    from bench.methods.diffusion.adm import ADMUNet

    if isinstance(model, ADMUNet):
        return "adm"
    from diffusers import UNet2DModel

    if isinstance(model, UNet2DModel):
        return "ddpm_unet"
    raise ValueError(f"DPMs-ANT adaptors go into a diffusers UNet2DModel (the DDPM 'simple' UNet of load_unet) or an "
                     f"ADMUNet (guided-diffusion); got a {type(model).__name__}")


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _add(output: torch.Tensor, adaptor: Adaptor, x: torch.Tensor, temb: torch.Tensor | None) -> torch.Tensor:
    """``output + adaptor(x, temb)``; the adaptor computes in its own dtype (float32 beside an fp16 backbone)."""
    dtype = adaptor.down_conv.weight.dtype
    delta = adaptor(x.to(dtype), None if temb is None else temb.to(dtype))
    return output + delta.to(output.dtype)


def _block_hook(adaptor: Adaptor, x_name: str, temb_name: str | None,
                resample: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Callable[..., torch.Tensor]:
    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: torch.Tensor) -> torch.Tensor:
        x = _arg(args, kwargs, 0, x_name)
        temb = _arg(args, kwargs, 1, temb_name) if temb_name is not None else None
        if resample is not None:
            x = resample(x)
        return _add(output, adaptor, x, temb)
    return hook


def _sites(model: nn.Module, kind: str) -> list[tuple[str, Any, str, int, int, int | None]]:
    """(module name, module, site type, in_channels, out_channels, temb_channels) of every block that gets one."""
    sites: list[tuple[str, Any, str, int, int, int | None]] = []
    if kind == "adm":
        from bench.methods.diffusion.adm import AttentionBlock, ResBlock

        for name, module in model.named_modules():
            if isinstance(module, ResBlock):
                sites.append((name, module, "resnet", module.channels, module.out_channels,
                              module.emb_layers[1].in_features))
            elif isinstance(module, AttentionBlock):
                sites.append((name, module, "attention", module.channels, module.channels, None))
        return sites
    from diffusers.models.attention_processor import Attention
    from diffusers.models.resnet import ResnetBlock2D

    for name, module in model.named_modules():
        if isinstance(module, ResnetBlock2D):
            temb = module.time_emb_proj.in_features if module.time_emb_proj is not None else None
            sites.append((name, module, "resnet", module.in_channels, module.out_channels, temb))
        elif isinstance(module, Attention):
            sites.append((name, module, "attention", module.query_dim, module.query_dim, None))
    return sites


class _EndAdaptorHooks:
    """UNet2DModel has no module holding its whole head: the adaptor's output is computed from ``conv_norm_out``'s
    input and added to ``conv_out``'s output."""

    def __init__(self, adaptor: Adaptor) -> None:
        self.adaptor = adaptor
        self.pending: torch.Tensor | None = None

    def before_norm(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.pending = self.adaptor(args[0].to(self.adaptor.down_conv.weight.dtype))

    def after_conv(self, module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        if self.pending is None:
            raise RuntimeError("conv_out ran without conv_norm_out before it: the end adaptor has no input")
        delta, self.pending = self.pending, None
        return output + delta.to(output.dtype)


def add_adaptors(model: nn.Module, config: AdaptorConfig | Mapping[str, Any] | None = None, *,
                 seed: int | None = None) -> list[str]:
    """Insert an adaptor in every ResNet and attention block of ``model`` and one at its output head; returns the
    adaptor module names. ``seed`` draws the initial weights from their own RNG (else the global one). The adaptors
    are float32 on the device of the model's parameters (the meta device too, for counting) and take their block's
    train/eval mode. Call ``ADMUNet.convert_to_fp16`` before, not after (it would halve the adaptors' convs too)."""
    net: Any = model  # its blocks and heads are read by attribute
    kind = backbone_kind(net)
    if hasattr(net, _CONFIG_ATTR):
        raise ValueError("this model already has DPMs-ANT adaptors (add_adaptors ran on it before)")
    cfg = AdaptorConfig.from_dict(config)
    device = next(net.parameters()).device
    handles: list[Any] = []
    names: list[str] = []
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        for name, module, site, c_in, c_out, temb in _sites(net, kind):
            adaptor = Adaptor(c_in, c_out, temb, cfg).to(device).train(module.training)
            module.add_module("adaptor", adaptor)
            if kind == "adm" and site == "resnet":
                # the official ResBlock feeds the adaptor x after x_upd (the block's parameter-free resampling)
                hook = _block_hook(adaptor, "x", "emb", module.x_upd if module.updown else None)
            elif kind == "adm":
                hook = _block_hook(adaptor, "x", None)
            elif site == "resnet":
                hook = _block_hook(adaptor, "input_tensor", "temb")
            else:
                hook = _block_hook(adaptor, "hidden_states", None)
            handles.append(module.register_forward_hook(hook, with_kwargs=True))
            names.append(f"{name}.adaptor")
        if kind == "adm":
            head = net.out[-1]
            ends = head.out_channels if head.out_channels != 6 else 3  # learned variance: ε channels only
            end = Adaptor(head.in_channels, ends, None, cfg).to(device).train(net.training)
            net.add_module(END_ADAPTOR, end)

            def head_hook(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
                delta = end(args[0].to(end.down_conv.weight.dtype)).to(output.dtype)
                return torch.cat([output[:, :ends] + delta, output[:, ends:]], dim=1)

            handles.append(net.out.register_forward_hook(head_hook))
        else:
            end = Adaptor(net.conv_out.in_channels, net.conv_out.out_channels, None, cfg).to(device)
            end.train(net.training)
            net.add_module(END_ADAPTOR, end)
            hooks = _EndAdaptorHooks(end)
            handles.append(net.conv_norm_out.register_forward_pre_hook(hooks.before_norm))
            handles.append(net.conv_out.register_forward_hook(hooks.after_conv))
        names.append(END_ADAPTOR)
    setattr(net, _CONFIG_ATTR, cfg)
    setattr(net, _HANDLES_ATTR, handles)
    return names


def adaptor_config(model: nn.Module) -> AdaptorConfig:
    """The :class:`AdaptorConfig` :func:`add_adaptors` used on ``model``."""
    if not hasattr(model, _CONFIG_ATTR):
        raise ValueError("this model has no DPMs-ANT adaptors: call add_adaptors(model, config) first")
    return getattr(model, _CONFIG_ATTR)


def _adaptor_modules(model: nn.Module) -> dict[str, Adaptor]:
    adaptor_config(model)
    return {name: m for name, m in model.named_modules() if isinstance(m, Adaptor)}


def adaptor_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The adaptors' parameters (what the optimiser trains)."""
    return [p for m in _adaptor_modules(model).values() for p in m.parameters()]


def freeze_backbone(model: nn.Module) -> None:
    """Leave only the adaptors trainable (``with_adapter`` in the code: every parameter whose name lacks
    "adapter" gets ``requires_grad = False``); here membership is by module, not by name."""
    own = {id(p) for p in adaptor_parameters(model)}
    for parameter in model.parameters():
        parameter.requires_grad_(id(parameter) in own)


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Parameter counts: trainable, total (adaptors included) and adaptor (trainable or not)."""
    return {"trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total": sum(p.numel() for p in model.parameters()),
            "adaptor": sum(p.numel() for p in adaptor_parameters(model))}


def trainable_share(model: nn.Module) -> float:
    """Trainable parameters over all parameters, adaptors included (the code's "train parameters rate"; the paper
    reports 1.3% for DDPM, 1.6% for LDM)."""
    counts = parameter_counts(model)
    return counts["trainable"] / counts["total"]


def official_adaptor_names(model: nn.Module) -> dict[str, str]:
    """Our adaptor module name → the official code's, for ``model`` with adaptors. DDPM: the block's original
    ``Model`` path (``up_blocks.0.resnets.1.adaptor`` → ``up.1.block.1.adapter`` with 2 levels, ``mid_block.
    attentions.0.adaptor`` → ``mid.attn_1.adapter``, ``end_adaptor`` → ``end_adapter``; the key map of
    :func:`~bench.methods.diffusion.unet.ddpm_key_map`); ADM: the same path (``input_blocks.1.0.adapter``),
    ``end_adaptor`` → ``out_adapter``."""
    kind = backbone_kind(model)
    names = {}
    if kind == "ddpm_unet":
        from bench.methods.diffusion.unet import ddpm_key_map

        config: Any = model.config
        original = {new: old for old, new in ddpm_key_map(dict(config)).items()}
    for name in _adaptor_modules(model):
        if name == END_ADAPTOR:
            names[name] = "end_adapter" if kind == "ddpm_unet" else "out_adapter"
            continue
        block = name[: -len(".adaptor")]
        if kind == "adm":
            names[name] = f"{block}.adapter"
            continue
        probe, suffix = ("norm1.weight", ".norm1.weight") if ".resnets." in block else ("group_norm.weight",
                                                                                       ".norm.weight")
        names[name] = original[f"{block}.{probe}"][: -len(suffix)] + ".adapter"
    return names


def convert_official_adaptors(state_dict: Mapping[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """The adaptor weights of an official DPMs-ANT model state dict (whole model, a leading ``module.`` of DDP
    stripped) under ``model``'s adaptor keys; a missing or wrongly shaped adaptor key is a ValueError listing them.
    Load the result with ``model.load_state_dict(converted, strict=False)``."""
    state = {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state_dict.items()}
    renames = official_adaptor_names(model)
    own = adaptor_state_dict(model)
    converted, problems = {}, []
    for key, tensor in own.items():
        module = max((n for n in renames if key.startswith(f"{n}.")), key=len)
        theirs = renames[module] + key[len(module):]
        if theirs not in state:
            problems.append(f"{theirs} missing")
        elif tuple(state[theirs].shape) != tuple(tensor.shape):
            problems.append(f"{theirs} {tuple(state[theirs].shape)} vs {tuple(tensor.shape)}")
        else:
            converted[key] = state[theirs]
    if problems:
        raise ValueError(f"official state dict does not hold this model's adaptors ({len(problems)} problems: "
                         f"{problems[:5]}); check the backbone config and adaptor dim/num_heads match the run that "
                         "wrote it")
    return converted


# ----------------------------------------------------------------------------------------- adaptor files


def _backbone_summary(model: Any, kind: str) -> dict[str, Any]:
    if kind == "ddpm_unet":
        c = model.config
        return {"sample_size": c.sample_size, "in_channels": c.in_channels, "out_channels": c.out_channels,
                "block_out_channels": list(c.block_out_channels), "layers_per_block": c.layers_per_block,
                "down_block_types": list(c.down_block_types)}
    return {"image_size": model.image_size, "in_channels": model.in_channels, "model_channels": model.model_channels,
            "out_channels": model.out_channels, "channel_mult": list(model.channel_mult),
            "num_res_blocks": model.num_res_blocks, "attention_resolutions": list(model.attention_resolutions),
            "num_classes": model.num_classes}


def backbone_signature(model: nn.Module) -> dict[str, Any]:
    """What an adaptor file is keyed by: the backbone kind, a hash of its own parameters' names and shapes (adaptors
    excluded; dtype ignored) and a readable summary of its config."""
    kind = backbone_kind(model)
    skip = tuple(f"{name}." for name in _adaptor_modules(model))
    layout = sorted((k, list(v.shape)) for k, v in model.state_dict().items() if not k.startswith(skip))
    return {"kind": kind, "layout_sha256": sha256_json(layout), "summary": _backbone_summary(model, kind)}


def adaptor_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adaptors' entries of ``model.state_dict()`` (full model key names)."""
    prefixes = tuple(f"{name}." for name in _adaptor_modules(model))
    return {k: v for k, v in model.state_dict().items() if k.startswith(prefixes)}


def save_adaptors(model: nn.Module, path: str | Path, facts: Mapping[str, Any] | None = None) -> Path:
    """Write the adaptors alone (the training stage's artefact) with the backbone signature and adaptor config
    they belong to; ``facts`` (JSON-like) travel along."""
    state = {k: v.detach().cpu() for k, v in adaptor_state_dict(model).items()}
    return atomic_torch_save(path, {"format": ADAPTOR_FILE_FORMAT, "backbone": backbone_signature(model),
                                    "adaptor": adaptor_config(model).to_dict(), "facts": dict(facts or {}),
                                    "state_dict": state})


def load_adaptors(model: nn.Module, path: str | Path) -> dict[str, Any]:
    """Load an adaptor file written by :func:`save_adaptors` onto ``model`` (adding the adaptors first when it has
    none); a file for another backbone config or adaptor architecture is a :class:`CheckpointError` naming both.
    Returns the file's backbone signature, adaptor config and facts."""
    path = Path(path)
    saved = load_checkpoint_file(path)
    if not isinstance(saved, dict) or saved.get("format") != ADAPTOR_FILE_FORMAT:
        raise CheckpointError(f"{path} is not a DPMs-ANT adaptor file (expected a dict with format "
                              f"{ADAPTOR_FILE_FORMAT!r}, as save_adaptors writes); pass the adaptor file the training "
                              "stage wrote, not a backbone checkpoint")
    file_cfg = AdaptorConfig.from_dict(saved["adaptor"])
    if not hasattr(model, _CONFIG_ATTR):
        add_adaptors(model, file_cfg)
    mine, theirs = backbone_signature(model), saved["backbone"]
    if (mine["kind"], mine["layout_sha256"]) != (theirs["kind"], theirs["layout_sha256"]):
        raise CheckpointError(f"{path} holds adaptors for another backbone:\n"
                              f"  file:  {theirs['kind']} {theirs['summary']} (layout {theirs['layout_sha256'][:12]})\n"
                              f"  model: {mine['kind']} {mine['summary']} (layout {mine['layout_sha256'][:12]})\n"
                              "load them onto the backbone config they were trained on, or train adaptors for this one")
    own_cfg = adaptor_config(model)
    if own_cfg.architecture() != file_cfg.architecture():
        raise CheckpointError(f"{path} holds adaptors with {file_cfg.architecture()}, but the model's adaptors have "
                              f"{own_cfg.architecture()}; build the model's adaptors with the file's adaptor config")
    state, own = saved["state_dict"], adaptor_state_dict(model)
    wrong = sorted(set(own) ^ set(state)) + [k for k in own if k in state and state[k].shape != own[k].shape]
    if wrong:
        raise CheckpointError(f"{path}: adaptor keys do not fit the model ({len(wrong)}): {wrong[:10]}; the file is "
                              "damaged or was written by another version of save_adaptors")
    model.load_state_dict(state, strict=False)
    return {"backbone": theirs, "adaptor": file_cfg.to_dict(), "facts": saved.get("facts", {})}
