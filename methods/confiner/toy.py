"""The ConFiner demo's tiny experts, trained for real on CPU on moving digits (``bench.datasets.moving_digits``) and
saved in the folder layouts the adapter's pixel-space kinds load (:mod:`bench.methods.confiner.experts`):

- ``pixel_video`` (control and temporal experts): the video-memorization toy reused whole
  (:func:`bench.methods.vdm_memorization.toy.train_toy_text_to_video`: a one-channel video UNet cross-attending to a
  frozen caption encoder, the SD 1.x DDIM ``scaled_linear`` schedule), trained on clips captioned
  "digit <class> moving" and saved as a pixel-space ``TextToVideoSDPipeline`` folder without ``vae``; the demo uses
  its ``frames_as_channels`` architecture (a 2-D UNet over the stacked frames, measured 0.12-0.14 s per step of
  batch 32 against 0.6 s for its ``UNet3DConditionModel`` on the same clips). The control expert is that model
  trained briefly (rough frames, sampled in 4 steps), the temporal expert the same trained longer.
- ``pixel_image`` (spatial expert): an unconditional ``UNet2DModel`` DDPM on single frames of the same clips
  (:func:`bench.methods.diffusion.training.train_ddpm`, linear betas 1e-4..0.02 as the harness's digits DDPM), saved
  as a ``DDPMPipeline`` folder (``unet/``, ``scheduler/``). A schedule other than the video experts' on purpose: the
  chain's x̂0 hinge then converts between two schedules, as AnimateDiff-Lightning's and SD 1.5's differ.

Why not the shared digits DDPM of the AMS demo as the spatial expert: it learned 8x8 digits filling the image,
while an expert of the chain denoises whole frames at the video experts' resolution (the ``shared`` resize policy):
a 12x12 canvas with the digit anywhere on black. Resizing a frame to 8x8 would shrink the digit to 5 pixels, which
that model never saw.

:class:`ConFinerToyExpert` is the train-stage entry the demo configs name (``configs/demo/confiner_1_*.py``): its
``fit`` trains one expert on the config's ``train.dataset`` and returns the folder, which the refinement configs read
as an ``upstream`` checkpoint product; its evaluation is that expert's single-expert baseline.
Re-implementation scaffolding (the paper's experts are billion-parameter latent models), labelled as such.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from bench.methods.confiner.adapter import ConFiner
from bench.registry import METHODS

LABEL = "re-implementation scaffolding (demo toy expert trained on moving digits, not a model the paper uses)"
# the harness's digits DDPM betas (configs/adaptive_momentum_sampler/_base_/demo_digits_full.py) with diffusers'
# default clip_sample=True (pixels live in [-1, 1]): measured on the demo's briefly trained frame DDPM (300 steps),
# DDIM at 20 steps without clipping blew up 4 of 10 videos into saturated noise
IMAGE_SCHEDULER = {"num_train_timesteps": 1000, "beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02,
                   "clip_sample": True}
IMAGE_CHANNELS = (16, 32)


class ClipFrames(torch.utils.data.Dataset):
    """Every frame of every clip of a moving-digits training set as an image item ``{"image": (1, s, s) in [0, 1]}``
    (what :func:`~bench.methods.diffusion.training.train_ddpm` reads): item ``k`` is frame ``k % F`` of clip
    ``k // F``."""

    def __init__(self, clips: Any) -> None:
        if len(clips) == 0:
            raise ValueError("ClipFrames: the training set is empty")
        first = clips[0]["video"]
        if first.ndim != 4 or first.shape[1] != 1:
            raise ValueError(f"ClipFrames: items' video must be (frames, 1, size, size) in [0, 1], got "
                             f"{tuple(first.shape)}")
        self.frames = torch.cat([clips[i]["video"].float() for i in range(len(clips))])
        fingerprint = getattr(clips, "fingerprint", None)
        self.source_fingerprint = fingerprint() if callable(fingerprint) else None

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.frames[index]}


def image_unet_config(size: int, block_out_channels: Sequence[int] = IMAGE_CHANNELS) -> dict[str, Any]:
    """A one-channel ``UNet2DModel`` of plain convolution blocks (no attention: a 12x12 frame needs none and a CPU
    step stays cheap), one layer per block, ``sample_size`` ``size``."""
    levels = len(block_out_channels)
    if levels < 2 or size % 2 ** (levels - 1):
        raise ValueError(f"image_unet_config: need at least 2 levels and a size divisible by 2**(levels - 1) = "
                         f"{2 ** (levels - 1)}, got size={size}, block_out_channels={list(block_out_channels)}")
    return dict(sample_size=size, in_channels=1, out_channels=1, layers_per_block=1,
                block_out_channels=tuple(block_out_channels), down_block_types=("DownBlock2D",) * levels,
                up_block_types=("UpBlock2D",) * levels, norm_num_groups=min(8, *block_out_channels))


def train_image_expert(train_set: Any, work_dir: str | Path, device: str | torch.device = "cpu", *, epochs: int,
                       batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                       block_out_channels: Sequence[int] = IMAGE_CHANNELS, checkpoint_every: int = 1,
                       resume: bool = True) -> Path:
    """Train the spatial expert, an unconditional frame DDPM (:func:`image_unet_config`, :data:`IMAGE_SCHEDULER`),
    on every frame of ``train_set``'s clips with :func:`~bench.methods.diffusion.training.train_ddpm` (AdamW,
    one-cycle schedule, per-epoch checkpoints, exact resume); returns the ``DDPMPipeline`` folder
    ``work_dir/model`` (``unet/``, ``scheduler/``, ``model_index.json``) with ``toy.json`` beside its
    ``training.json``. ``checkpoint_every``: epochs between resumable checkpoints (a 40-frame epoch is one step: writing
    one each epoch would cost more than the step)."""
    from bench.methods.diffusion.training import train_ddpm

    frames = ClipFrames(train_set)
    size = int(frames.frames.shape[-1])
    torch.manual_seed(seed)  # the initial weights (the train stage also seeds; a direct call must not depend on it)
    folder = train_ddpm(image_unet_config(size, block_out_channels), IMAGE_SCHEDULER, frames, Path(work_dir),
                        torch.device(device), resume=resume, epochs=epochs, batch_size=batch_size, lr=lr,
                        weight_decay=0.0, seed=seed, checkpoint_every=checkpoint_every)
    record = {"kind": "pixel_image", "epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
              "steps": epochs * -(-len(frames) // batch_size),
              "unet_block_out_channels": list(block_out_channels), "num_frames": len(frames), "size": size,
              "scheduler": IMAGE_SCHEDULER, "train_fingerprint": frames.source_fingerprint, "label": LABEL}
    describe = getattr(train_set, "describe", None)
    if callable(describe):
        record["train_set"] = describe()
    (folder / "toy.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return folder


def train_video_expert(train_set: Any, folder: str | Path, device: str | torch.device = "cpu", *, steps: int,
                       batch_size: int = 32, lr: float = 1e-2, seed: int = 0, caption_dropout: float = 0.1,
                       block_out_channels: Sequence[int] | None = None, architecture: str = "unet3d") -> Path:
    """Train a control or temporal expert: the video-memorization toy
    (:func:`~bench.methods.vdm_memorization.toy.train_toy_text_to_video`, which writes ``toy.json`` last and
    reuses a finished folder of the same settings) on ``train_set``'s captioned clips; returns ``folder``.
    ``architecture``: ``"unet3d"`` (``UNet3DConditionModel``) or ``"frames_as_channels"`` (a 2-D UNet over the
    stacked frames, about 4x cheaper per CPU step; both load as ``pixel_video``); ``block_out_channels`` None takes
    the toy's default for that architecture."""
    from bench.methods.vdm_memorization.toy import train_toy_text_to_video

    return train_toy_text_to_video(train_set, folder, device=device, steps=steps, batch_size=batch_size, lr=lr,
                                   seed=seed, caption_dropout=caption_dropout, block_out_channels=block_out_channels,
                                   architecture=architecture, show_progress=False)


ROLE_KINDS = {"control": "pixel_video", "temporal": "pixel_video", "spatial": "pixel_image"}
UNTRAINED = "<trained by this config's train stage>"


@METHODS.register_module()
class ConFinerToyExpert(ConFiner):
    """The train-stage entry of the ConFiner demo, and that expert's single-expert baseline: ``fit`` trains the
    tiny expert of role ``single`` (``control`` / ``temporal``: ``pixel_video``, train keys of
    :func:`train_video_expert`; ``spatial``: ``pixel_image``, train keys of :func:`train_image_expert`) and returns its
    folder; evaluation is :class:`~bench.methods.confiner.adapter.ConFiner`'s baseline (that expert alone, ``steps``
    steps of its own DDIM), through the same code as the paper's experts. Downstream ConFiner configs read the folder
    as an ``upstream`` checkpoint product
    (``experts=dict(temporal=dict(kind="pixel_video", model="upstream:temporal"))``).

    Args:
        single: the role trained and sampled.
        steps: the baseline's sampling steps.
        expert: extra :class:`~bench.methods.confiner.experts.ExpertSpec` keys (e.g. ``guidance_scale``).
        block_out_channels: the UNet's channels per level (None: the video toy's default for its architecture /
            :data:`IMAGE_CHANNELS`).
        **kwargs: the other :class:`ConFiner` arguments (``frames``, ``size``, ...).
    """

    eval_only_params = tuple(p for p in ConFiner.eval_only_params if p not in ("experts", "single")) + ("expert",)

    def __init__(self, single: str, steps: int, expert: dict[str, Any] | None = None,
                 block_out_channels: Sequence[int] | None = None, **kwargs: Any) -> None:
        if single not in ROLE_KINDS:
            raise ValueError(f"ConFinerToyExpert: single must be one of {sorted(ROLE_KINDS)}, got {single!r}")
        extra = dict(expert or {})
        if {"kind", "model"} & set(extra):
            raise ValueError("ConFinerToyExpert: expert takes ExpertSpec options other than kind and model (the kind "
                             "follows the role, the model is the trained folder)")
        self.kind = ROLE_KINDS[single]
        self.block_out_channels = None if block_out_channels is None else tuple(block_out_channels)
        super().__init__(experts={single: {"kind": self.kind, "model": UNTRAINED, **extra}}, single=single,
                         steps=steps, **kwargs)

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Train the expert on ``train_set`` (:class:`MovingDigitsTrain` items) and return its folder (a finished
        one is returned as it is)."""
        work_dir = Path(work_dir)
        if self.kind == "pixel_image":
            return train_image_expert(train_set, work_dir, device, resume=resume,
                                      block_out_channels=self.block_out_channels or IMAGE_CHANNELS, **train_cfg)
        folder = work_dir / "model"
        if not resume:
            shutil.rmtree(folder, ignore_errors=True)
        return train_video_expert(train_set, folder, device, block_out_channels=self.block_out_channels,
                                  **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        role = str(self.single)
        self.specs[role] = replace(self.specs[role], model=str(path))

    def provenance(self) -> dict[str, Any]:
        channels = None if self.block_out_channels is None else list(self.block_out_channels)
        return {**super().provenance(), "toy": {"kind": self.kind, "block_out_channels": channels, "label": LABEL}}
