"""The text-conditional latent model that D-TRAK (and DAS) attribute on ArtBench: a local Stable Diffusion folder
(miniSD in the papers) whose UNet carries LoRA adapters, the only parameters the gradient features use.

D-TRAK ``ArtBench{2,5}/grad_text_to_image_lora.py`` puts rank-128 ``LoRAAttnProcessor`` s on every attention layer
(diffusers 0.23) and loads the fine-tuned ones with ``unet.load_attn_procs``; its noise scheduler is
``DDPMScheduler.from_pretrained(<folder>, subfolder="scheduler")``. We express the same adapters in peft
(:data:`LORA_CONFIG`: r = α = 128, gaussian init, ``to_q``, ``to_k``, ``to_v``, ``to_out.0``: scale α / r = 1 as the
processors') and read the weights file in any of diffusers' LoRA key formats (the old attention-processor keys that
``save_attn_procs`` writes, diffusers' ``lora.up`` / ``lora.down`` and peft's ``lora_A`` / ``lora_B``), strictly: every
adapter weight must be in the file and nothing else. Without a weights folder the adapters stay at their seeded
initialisation (D-TRAK's ``checkpoint-0`` case; peft's gaussian init sets ``lora_B`` = 0, so the ``lora_A``
gradients are then zero).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.io import sha256_file, sha256_json

LORA_TARGETS = ("to_k", "to_q", "to_v", "to_out.0")
LORA_CONFIG = {"r": 128, "lora_alpha": 128, "init_lora_weights": "gaussian", "target_modules": list(LORA_TARGETS)}
LORA_WEIGHT_FILES = ("pytorch_lora_weights.safetensors", "pytorch_lora_weights.bin", "pytorch_model.bin")


@dataclass
class LatentModel:
    """A Stable Diffusion UNet with LoRA adapters (only they require grad), its DDPM noise scheduler, and the VAE,
    tokenizer and text encoder that turn images and captions into its inputs."""

    unet: Any
    scheduler: Any
    vae: Any
    tokenizer: Any
    text_encoder: Any
    facts: dict[str, Any]

    def encoders_sha256(self) -> str:
        """sha256 of the VAE and text-encoder weights and the tokenizer settings: what turns a dataset into
        inputs, so feature stores of different encoders never share a key."""
        from bench.methods.das.features import module_sha256

        return sha256_json([module_sha256(self.vae), module_sha256(self.text_encoder),
                            int(self.tokenizer.model_max_length), len(self.tokenizer)])


def add_lora(unet: nn.Module, rank: int = LORA_CONFIG["r"], seed: int = 0) -> None:
    """Freeze ``unet`` and add D-TRAK's LoRA adapters (:data:`LORA_CONFIG`, ``lora_alpha`` = ``rank``) initialised
    from ``torch.manual_seed(seed)``; only the adapters require grad afterwards."""
    from peft import LoraConfig

    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"LoRA rank must be a positive integer (D-TRAK: 128), got {rank!r}")
    unet.requires_grad_(False)
    torch.manual_seed(seed)
    unet.add_adapter(LoraConfig(**{**LORA_CONFIG, "r": rank, "lora_alpha": rank}))
    for name, parameter in unet.named_parameters():
        parameter.requires_grad_("lora_" in name)


def lora_weights_file(folder: str | Path) -> Path:
    """The LoRA weights file of a folder (:data:`LORA_WEIGHT_FILES`, first found), or a FileNotFoundError naming
    the files looked for."""
    root = Path(folder).expanduser()
    for name in LORA_WEIGHT_FILES:
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"LoRA weights folder {root}: none of {list(LORA_WEIGHT_FILES)} found; give the folder a "
                            "LoRA fine-tune was saved to (diffusers' save_lora_weights, or D-TRAK's "
                            "unet.save_attn_procs output)")


def load_lora_weights(unet: nn.Module, folder: str | Path) -> dict[str, Any]:
    """Load the adapters' weights from ``folder`` into ``unet`` (which :func:`add_lora` prepared); a CheckpointError
    names the file and the adapter keys missing from it or the keys it has that no adapter takes."""
    from diffusers.utils import convert_unet_state_dict_to_peft
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

    from bench.checkpoint import CheckpointError

    path = lora_weights_file(folder)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    state = convert_unet_state_dict_to_peft({k.removeprefix("unet."): v for k, v in state.items()})
    state = {k.replace(".default.", "."): v for k, v in state.items()}
    expected = set(get_peft_model_state_dict(unet))
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    wrong = sorted(k for k in expected & set(state) if tuple(state[k].shape) !=
                   tuple(get_peft_model_state_dict(unet)[k].shape))
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path}: does not match the LoRA adapters (r = {LORA_CONFIG['r']} unless lora_rank is "
                              f"set, targets {list(LORA_TARGETS)}): {len(missing)} missing (first {missing[:2]}), "
                              f"{len(unexpected)} unexpected (first {unexpected[:2]}), {len(wrong)} of another shape "
                              f"(first {wrong[:2]}); pass the matching lora_rank or the right folder")
    set_peft_model_state_dict(unet, state)
    return {"lora_weights": str(path), "lora_sha256": sha256_file(path)}


def load_latent_model(folder: str | Path, lora_weights: str | Path | None = None, *,
                      lora_rank: int = LORA_CONFIG["r"], lora_seed: int = 0) -> LatentModel:
    """The model of a local Stable Diffusion folder (:func:`bench.methods.diffusion.stable_diffusion.
    load_stable_diffusion`, float32, eval mode) with LoRA adapters, loaded from ``lora_weights`` when given, and a
    ``DDPMScheduler`` built from the folder's scheduler config (as D-TRAK's ``DDPMScheduler.from_pretrained``)."""
    from diffusers import DDPMScheduler

    from bench.methods.diffusion.stable_diffusion import load_stable_diffusion

    pipe, facts = load_stable_diffusion(folder)
    unet = pipe.unet.eval()
    add_lora(unet, lora_rank, lora_seed)
    lora = load_lora_weights(unet, lora_weights) if lora_weights is not None else {"lora_weights": None,
                                                                                   "lora_seed": lora_seed}
    pipe.vae.requires_grad_(False)
    pipe.text_encoder.requires_grad_(False)
    return LatentModel(unet, DDPMScheduler.from_config(pipe.scheduler.config), pipe.vae.eval(), pipe.tokenizer,
                       pipe.text_encoder.eval(), {**facts, **lora, "lora_rank": lora_rank,
                                                  "lora_targets": list(LORA_TARGETS)})
