"""DPMs-ANT's two training loops: stage 1, the source-vs-target domain classifier, and stages 2-3, the adaptor
training on the ANT objective (:mod:`bench.methods.dpms_ant.objectives`). Both are seeded, write an atomic
``latest.pth`` (trainable weights, optimiser, grad scaler, EMA, iteration, every RNG state) and resume exactly.

The official loop (``ShinyGua/DPMs-ANT`` = fork ``ChhaviPan23/DPMs-ANT`` @ 65f00ba), as it executes:

- optimiser: AdamW (timm ``create_optimizer_v2``, train.py:42), betas (0.5, 0.999), weight decay 1e-2
  (configs/DDPM/base.yaml:52-55), none on 1-D parameters and biases (utils/optimizer.py:19-33); grad-norm clip 1.0
  over the trainable parameters after unscaling (utils/utils.py:159-169); fp16 autocast with a GradScaler
  (train.py:53, 121, 127; ``amp_opt_level`` O1, configs/config.py:296). Here autocast is used on CUDA only.
- schedule (:func:`cosine_lr`): timm ``CosineLRScheduler`` stepped once per iteration (train.py:74, 189-190;
  utils/scheduler.py:36-46), t_initial = ``train.iteration`` 500, warm-up from 0.1·lr (``warmup_lr_rate``), floor
  0.5·lr (``min_lr_rate``; base.yaml:39-43, utils/utils.py:40-42). The warm-up length is ``train.warmup_iteration``
  = 50 (config.py:170): base.yaml's ``warmup_iteration_rate: 0.2`` is never read (utils/scheduler.py:34); nor are
  the three ``*_rate`` keys declared in configs/config.py, so yacs refuses to merge base.yaml as committed. The
  loop stops at iteration 321 (train.py:129-130) although the cosine runs over 500.
- EMA 0.9 over the trainable parameters, from their initial values, after every step (base.yaml:18-20,
  model/ema.py:9-19, train.py:62-64, 175-176). image_generator.py:50 samples with ``ckpt['model']``, the raw
  weights (the EMA load is commented out, image_generator.py:52-53): the EMA is kept but not what was sampled.
- data: one batch of ``model.batch_size`` = 5 target images per GPU is drawn once and reused for every iteration
  (train.py:123-124; base.yaml:7), so on one GPU only 5 of the 10 target images ever train. :func:`fixed_batch`
  builds that batch (``batch_size`` rows, every image used when the batch is at least the set's size).
- the classifier stage (train_discriminator.py; base_cls.yaml): 300 iterations (an "epoch" is one pass over the 10
  target images at batch 10: one step), lr 1e-4, AdamW (0.9, 0.999), wd 1e-4, clip 1.0, cosine warm-up from 0.01·lr
  over 50 iterations (again config.py:170, the yaml's 0.1 unused) to a floor of 0.1·lr; each step a fresh random
  batch of 10 source images (label 1) joined to the 10 target images (label 0), noised at antithetic t drawn over
  the joined batch, cross-entropy (train_discriminator.py:102-128); ``model.train()``. The 2-class head is a fresh
  default-initialised ``Conv1d(c, 2, 1)`` in place of the attention pool's ``c_proj`` (model/build.py:169).
"""
from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.checkpoint import CheckpointError
from bench.io import atomic_torch_save
from bench.methods.diffusion.adm import ADMClassifier
from bench.methods.diffusion.gaussian import named_beta_schedule
from bench.methods.dpms_ant.objectives import AntObjective, Classifier, ant_loss, antithetic_timesteps, q_sample
from bench.seeding import capture_rng_state, seed_everything
from bench.train import LATEST, load_training_state, resume_rng

log = logging.getLogger("bench.methods.dpms_ant.training")
FINAL = "final.pth"
SOURCE_LABEL, TARGET_LABEL = 1, 0  # train_discriminator.py:112-113


def linear_alphas_cumprod(num_timesteps: int = 1000) -> torch.Tensor:
    """ᾱ_t of the linear β schedule 1e-4 … 0.02 (configs/DDPM/base.yaml:30-35), float32 as the code computes it
    (float64 β, cast, cumulative product; utils/denoising.py:60-67)."""
    betas = torch.from_numpy(named_beta_schedule("linear", num_timesteps)).float()
    return (1.0 - betas).cumprod(dim=0)


@dataclass(frozen=True)
class AntSettings:
    """Stage 2-3 training settings. ``iterations``: steps taken (the official hard stop, 321); ``schedule_iterations``:
    the cosine's length (``train.iteration``, 500 officially); ``batch_size``: rows of the fixed batch x0."""

    lr: float
    iterations: int
    schedule_iterations: int
    batch_size: int
    warmup_iterations: int
    warmup_lr: float
    min_lr: float
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 1e-2
    clip_grad: float = 1.0
    ema_rate: float = 0.9
    seed: int = 1228
    fp16: bool = True
    checkpoint_every: int = 20
    objective: AntObjective = field(default_factory=AntObjective)


def _official_ant() -> AntSettings:
    # base.yaml: lr 1e-4, warm-up from 0.1·lr over 50 (config.py:170), floor 0.5·lr, cosine over 500, stop at 321.
    return AntSettings(lr=1e-4, iterations=321, schedule_iterations=500, batch_size=5, warmup_iterations=50,
                       warmup_lr=1e-5, min_lr=5e-5, checkpoint_every=20)


def _paper_ant(backbone: str) -> AntSettings:
    # Paper/rubric: lr 5e-5 (DDPM) or 1e-5 (LDM), 300 iterations, batch 40. The paper names no schedule: the code's
    # shape is kept (warm-up from 0.1·lr over the same 10% of the cosine, floor 0.5·lr), over the 300 iterations.
    lr = {"ddpm": 5e-5, "ldm": 1e-5}[backbone]
    return AntSettings(lr=lr, iterations=300, schedule_iterations=300, batch_size=40, warmup_iterations=30,
                       warmup_lr=0.1 * lr, min_lr=0.5 * lr, checkpoint_every=20)


ANT_PRESETS = ("paper", "official")
BACKBONES = ("ddpm", "ldm")


def ant_settings(preset: str = "paper", backbone: str = "ddpm", **overrides: Any) -> AntSettings:
    """The settings of ``preset`` ("paper": the paper's lr/iterations/batch; "official": configs/DDPM/base.yaml as
    the code runs it) for ``backbone`` ("ddpm" or "ldm"; only the paper's lr depends on it), with field
    ``overrides``."""
    if preset not in ANT_PRESETS:
        raise ValueError(f"unknown DPMs-ANT preset {preset!r}; choose one of {ANT_PRESETS}")
    if backbone not in BACKBONES:
        raise ValueError(f"unknown DPMs-ANT backbone {backbone!r}; choose one of {BACKBONES}")
    base = _official_ant() if preset == "official" else _paper_ant(backbone)
    return replace(base, **overrides)


@dataclass(frozen=True)
class ClassifierSettings:
    """Stage 1 settings (configs/DDPM/base_cls.yaml as the code runs it); ``batch_size`` images of each domain."""

    lr: float = 1e-4
    iterations: int = 300
    batch_size: int = 10
    warmup_iterations: int = 50
    warmup_lr: float = 1e-6
    min_lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 1e-4
    clip_grad: float = 1.0
    seed: int = 1228
    fp16: bool = True
    checkpoint_every: int = 50
    num_timesteps: int = 1000


@dataclass
class TrainRun:
    """What a training returns: the per-iteration ``losses`` of this call and earlier (resumed) calls, the EMA of
    the trainable parameters (empty for the classifier stage) and the ``final.pth`` written, if a work_dir was given."""

    losses: list[float]
    ema: list[torch.Tensor]
    final: Path | None


def fixed_batch(images: torch.Tensor, batch_size: int, seed: int = 0) -> torch.Tensor:
    """The fixed training batch x0 of ``batch_size`` rows from the target ``images``: a seeded shuffle, repeated
    cyclically when the batch is larger than the set (10 images, batch 40: each image 4 times), cut when smaller
    (the official 5-of-10, train.py:123)."""
    if len(images) == 0:
        raise ValueError("fixed_batch: no target images (expected the few-shot set, e.g. 10 images)")
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    index = order.repeat(-(-batch_size // len(images)))[:batch_size]
    return images[index.to(images.device)]


def _param_groups(params: Sequence[nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices and kernels only, none on 1-D parameters (biases, norms; utils/optimizer.py:19-33)."""
    return [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]


def cosine_lr(index: int, lr: float, length: int, warmup: int, warmup_lr: float, min_lr: float) -> float:
    """Iteration ``index``'s learning rate under the official schedule, timm's ``CosineLRScheduler`` as
    utils/scheduler.py:36-46 builds it (one cycle, no warm-up prefix, stepped per iteration): a linear ramp from
    ``warmup_lr`` over ``warmup`` iterations, then min_lr + ½(lr − min_lr)(1 + cos(π·index/length)) on the
    *unshifted* index, and ``min_lr`` from ``length`` on. Written out rather than imported: importing timm's
    scheduler pulls in torchvision, seconds on a loaded CPU."""
    if index < warmup:
        return warmup_lr + index * (lr - warmup_lr) / warmup
    if index >= length:
        return min_lr
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * index / length))


def _set_lr(optimizer: torch.optim.Optimizer, value: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = value


def _autocast(device: torch.device, fp16: bool) -> contextlib.AbstractContextManager:
    if device.type == "cuda" and fp16:
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


class _Loop:
    """State a resumable loop saves: the trainable tensors, optimiser, grad scaler, EMA, iteration, losses, RNGs."""

    def __init__(self, params: list[nn.Parameter], optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                 ema: list[torch.Tensor], work_dir: Path | None, seed: int, resume: bool) -> None:
        self.params, self.optimizer, self.scaler, self.ema = params, optimizer, scaler, ema
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.start, self.losses = 0, []
        latest = self.work_dir / LATEST if self.work_dir is not None else None
        if resume and latest is not None and latest.is_file():
            state = load_training_state(latest, ("params", "optimizer", "scaler", "ema", "iteration", "losses"))
            if len(state["params"]) != len(params):
                raise CheckpointError(f"cannot resume training: {latest} holds {len(state['params'])} trainable "
                                      f"tensors, this model has {len(params)} (it was written for another model or "
                                      "freeze setting); delete it to retrain, or use another work_dir")
            with torch.no_grad():
                for param, saved in zip(params, state["params"], strict=True):
                    param.copy_(saved)
                for mirror, saved in zip(ema, state["ema"], strict=True):
                    mirror.copy_(saved)
            optimizer.load_state_dict(state["optimizer"])
            scaler.load_state_dict(state["scaler"])
            self.start, self.losses = int(state["iteration"]), list(state["losses"])
            resume_rng(state, latest)
            log.info("resuming from iteration %d (%s)", self.start, latest)
        else:
            seed_everything(seed)

    def save(self, iteration: int, name: str = LATEST) -> Path | None:
        if self.work_dir is None:
            return None
        return atomic_torch_save(self.work_dir / name, {
            "params": [p.detach().cpu() for p in self.params], "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(), "ema": [e.cpu() for e in self.ema], "iteration": iteration,
            "losses": self.losses, "rng": capture_rng_state()})

    def step(self, loss: torch.Tensor, clip: float) -> None:
        """Backward, unscale, clip the trainable gradients' norm, step (utils/utils.py:159-169)."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        if clip:
            torch.nn.utils.clip_grad_norm_(self.params, clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def iterations(self, total: int, checkpoint_every: int) -> Iterator[int]:
        for index in range(self.start, total):
            yield index
            if (index + 1) % checkpoint_every == 0 or index + 1 == total:
                self.save(index + 1)


def _check_every(value: int) -> int:
    if int(value) < 1:
        raise ValueError(f"checkpoint_every must be an iteration count >= 1, got {value}")
    return int(value)


def train_ant(model: nn.Module, trainable_params: Sequence[nn.Parameter], classifier: Classifier | None,
              x0: torch.Tensor, schedule: torch.Tensor, settings: AntSettings, *, work_dir: Path | None = None,
              resume: bool = True, after_step: Callable[[int, float], None] | None = None) -> TrainRun:
    """Train ``trainable_params`` of ``model`` (an ε-model ``model(x_t, t)``; everything else should be frozen by
    the caller's backbone) on the fixed batch ``x0`` (in [−1, 1], on the model's device) with the ANT objective
    ``settings.objective``; ``schedule`` is ᾱ_t ``[T]`` (:func:`linear_alphas_cumprod`). ``classifier`` is the
    stage-1 domain classifier (kept in eval mode, never trained; None only for unguided objectives). With
    ``work_dir`` the loop checkpoints every ``settings.checkpoint_every`` iterations and a later call resumes from
    ``latest.pth``; ``after_step(iteration, loss)`` runs after each step. Returns losses, EMA and ``final.pth``."""
    params = list(trainable_params)
    if not params:
        raise ValueError("train_ant: no trainable parameters (the backbone froze everything; enable the adaptor)")
    device = x0.device
    if x0.shape[0] != settings.batch_size:
        log.info("train_ant: x0 has %d rows, settings.batch_size is %d (fixed_batch builds the batch)",
                 x0.shape[0], settings.batch_size)
    if settings.objective.guidance and classifier is None:
        raise ValueError("train_ant: the objective uses similarity guidance but classifier is None; train the "
                         "stage-1 domain classifier (train_domain_classifier) or use ablation('adaptor_only')")
    if isinstance(classifier, nn.Module):
        classifier.eval()
    final = Path(work_dir) / FINAL if work_dir is not None else None
    optimizer = torch.optim.AdamW(_param_groups(params, settings.weight_decay), lr=settings.lr,
                                  betas=settings.betas, eps=1e-8)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda" and settings.fp16)
    ema = [p.detach().clone() for p in params]
    loop = _Loop(params, optimizer, scaler, ema, work_dir, settings.seed, resume)
    model.train()
    schedule = schedule.to(device)
    for index in loop.iterations(settings.iterations, _check_every(settings.checkpoint_every)):
        _set_lr(optimizer, cosine_lr(index, settings.lr, settings.schedule_iterations, settings.warmup_iterations,
                                     settings.warmup_lr, settings.min_lr))
        with _autocast(device, settings.fp16):
            loss = ant_loss(model, x0, schedule, settings.objective, classifier)
        loop.step(loss, settings.clip_grad)
        with torch.no_grad():
            for mirror, param in zip(ema, params, strict=True):
                mirror.mul_(settings.ema_rate).add_(param.detach(), alpha=1.0 - settings.ema_rate)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"train_ant: loss became {value} at iteration {index} (lr {settings.lr}); "
                                     "lower the lr or gamma; the last checkpoint holds the state before it")
        loop.losses.append(value)
        if after_step is not None:
            after_step(index, value)
    if final is not None:
        loop.save(settings.iterations, FINAL)
        log.info("DPMs-ANT: %d iterations, last loss %.4f (%s)", settings.iterations,
                 loop.losses[-1] if loop.losses else float("nan"), final)
    return TrainRun(losses=loop.losses, ema=ema, final=final)


def two_class_head(classifier: ADMClassifier) -> ADMClassifier:
    """Replace the ImageNet head of an :class:`ADMClassifier` by a freshly initialised 2-class one (source vs
    target), in place: the attention pool's ``c_proj`` becomes ``Conv1d(c, 2, 1)`` as model/build.py:169 does; the
    other pools get the matching 2-output layer."""
    head = classifier.out
    if classifier.pool == "attention":
        head[2].c_proj = nn.Conv1d(head[2].c_proj.in_channels, 2, 1)
    elif classifier.pool == "adaptive":
        head[3] = nn.Conv2d(head[3].in_channels, 2, 1)
    else:
        head[-1] = nn.Linear(head[-1].in_features, 2)
    classifier.out_channels = 2
    return classifier


def _draw(images: Any, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random rows of ``images`` (a tensor, or anything indexable by an index tensor with ``len`` and
    ``device``, such as the adapter's on-demand source images), all of them when there are no more."""
    if len(images) <= count:
        return images[torch.arange(len(images), device=images.device)]
    return images[torch.randperm(len(images), generator=generator)[:count].to(images.device)]


def train_domain_classifier(classifier: nn.Module, source_images: Any, target_images: torch.Tensor,
                            settings: ClassifierSettings | None = None, *, work_dir: Path | None = None,
                            resume: bool = True) -> TrainRun:
    """Stage 1: fine-tune ``classifier(x_t, t) -> logits [N, 2]`` to tell noised source images (label 1) from
    noised target images (label 0) at antithetic t, as train_discriminator.py does (see the module docstring). An
    :class:`ADMClassifier` with another head size gets :func:`two_class_head` first. Images in [−1, 1] on the
    classifier's device. Each iteration draws ``batch_size`` source and target images from a generator seeded by
    (seed, iteration), so a resumed run sees the same batches."""
    settings = settings or ClassifierSettings()
    if isinstance(classifier, ADMClassifier) and classifier.out_channels != 2:
        two_class_head(classifier)
    if len(source_images) == 0 or len(target_images) == 0:
        raise ValueError(f"train_domain_classifier: needs source and target images, got {len(source_images)} "
                         f"source and {len(target_images)} target")
    device = target_images.device
    classifier.to(device)
    params = [p for p in classifier.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(_param_groups(params, settings.weight_decay), lr=settings.lr,
                                  betas=settings.betas, eps=1e-8)
    scaler = torch.amp.GradScaler(device.type, enabled=device.type == "cuda" and settings.fp16)
    loop = _Loop(params, optimizer, scaler, [], work_dir, settings.seed, resume)
    schedule = linear_alphas_cumprod(settings.num_timesteps).to(device)
    classifier.train()
    for index in loop.iterations(settings.iterations, _check_every(settings.checkpoint_every)):
        _set_lr(optimizer, cosine_lr(index, settings.lr, settings.iterations, settings.warmup_iterations,
                                     settings.warmup_lr, settings.min_lr))
        batches = torch.Generator().manual_seed(settings.seed * 100_003 + index)
        source = _draw(source_images, settings.batch_size, batches)
        target = _draw(target_images, settings.batch_size, batches)
        x0 = torch.cat([source, target])
        labels = torch.cat([torch.full((len(source),), SOURCE_LABEL), torch.full((len(target),), TARGET_LABEL)])
        noise = torch.randn_like(x0)
        t = antithetic_timesteps(len(x0), settings.num_timesteps, device)
        with _autocast(device, settings.fp16):
            loss = F.cross_entropy(classifier(q_sample(x0, t, noise, schedule), t).float(), labels.to(device))
        loop.step(loss, settings.clip_grad)
        loop.losses.append(float(loss.detach()))
    classifier.eval()
    final = Path(work_dir) / FINAL if work_dir is not None else None
    if final is not None:
        atomic_torch_save(final, {"state_dict": classifier.state_dict(),
                                  "meta": {"settings": asdict(settings), "losses": loop.losses}})
    return TrainRun(losses=loop.losses, ema=[], final=final)
