"""The ``IDC`` method adapter: classification by translation to label images, trainable, attackable."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.method import Method
from bench.registry import METHODS
from bench.seeding import sample_generator, seed_everything
from bench.store import Columns

VIEWS = ("paper", "logits")


class IDCAttackView(nn.Module):
    """IDC as attacks see it: images in [0, 1] to class scores over the label-image distances d.

    ``paper``: the official attack wrapper (``BaseRunner.SDE_Adv_Model``): ``softmax(-d / tau)`` (probabilities,
    which torchattacks then treats as logits) with the sampling noise frozen: every forward re-seeds the global
    RNG with 0 and, as the wrapper does when it regenerates the label images, draws K x C*H*W CPU normals before
    sampling. The global RNG state is restored afterwards. ``logits``: ``log_softmax(-d / tau)`` with fresh
    noise at every forward (the stochastic defence as it is), for the strong evaluation (EOT, AutoAttack rand).
    """

    def __init__(self, method: IDC, view: str) -> None:
        super().__init__()
        if view not in VIEWS:
            raise ValueError(f"IDC attack views: {VIEWS}; got {view!r}")
        self.bridge, self.view, self.method = method.model, view, [method]  # a list: not a registered submodule

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        method = self.method[0]
        x = method.preprocess(images)
        if self.view == "logits":
            return F.log_softmax(method.scores(self.bridge.translate(x, method.clip_denoised)), dim=1)
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            torch.randn(method.num_classes, x[0].numel())  # the wrapper's label-image draw, which moves the CPU RNG
            translated = self.bridge.translate(x, method.clip_denoised)
        return F.softmax(method.scores(translated), dim=1)


@METHODS.register_module(name="IDC")
class IDC(Method):
    """IDC: translate each image with the Brownian bridge (per-sample seeded noise) and score the K label images by
    ``logits = -d / tau`` (d: mean absolute difference to each label image), so argmax is the official L1-nearest
    label and softmax the official wrapper's probabilities. ``distances`` are stored too.

    ``preset`` picks the official U-Net (``cifar10``/``cifar100``), ``unet`` overrides its keys, ``bridge`` the
    bridge's (``BRIDGE_DEFAULTS``). Inputs ``batch["image"]`` in [0, 1] are resized to ``input_size`` (bilinear)
    and grey images repeated to ``channels``. ``checkpoint`` is an IDC checkpoint (authors' layout), read with its
    EMA weights when ``use_ema``. ``train`` runs :func:`bench.methods.idc.training.train_idc`.
    """

    eval_only_params = ("tau", "clip_denoised", "use_ema")

    def __init__(self, num_classes: int, preset: str | None = "cifar10", unet: dict[str, Any] | None = None,
                 bridge: dict[str, Any] | None = None, checkpoint: str | None = None, use_ema: bool = True,
                 tau: float = 0.1, input_size: int = 32, channels: int = 3, label_seed: int = 0,
                 clip_denoised: bool = True) -> None:
        from bench.methods.idc.model import unet_config

        self.num_classes, self.checkpoint, self.use_ema, self.tau = num_classes, checkpoint, use_ema, tau
        self.unet = unet_config(preset, **(unet or {}))
        if self.unet.get("image_size", input_size) != input_size:
            raise ValueError(f"IDC: the U-Net's image_size {self.unet['image_size']} differs from input_size "
                             f"{input_size}")
        self.bridge = dict(bridge or {})
        self.input_size, self.channels, self.label_seed = input_size, channels, label_seed
        self.clip_denoised = clip_denoised
        self.model: Any = None
        self.labels: torch.Tensor | None = None
        self.device = torch.device("cpu")
        self.weights: dict[str, Any] = {}

    def _label_images(self) -> torch.Tensor:
        from bench.methods.idc.label_images import label_images

        return label_images(self.num_classes, self.input_size, self.channels, self.label_seed)

    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.idc.model import build_idc, load_idc_checkpoint

        self.device = device
        seed_everything(seed)
        self.model = build_idc(self.unet, self.bridge)
        if self.checkpoint:
            self.weights = load_idc_checkpoint(self.model, self.checkpoint, self.use_ema)
        self.model.eval().to(device)
        self.labels = self._label_images().to(device)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device).float()
        if images.shape[1] == 1 and self.channels != 1:
            images = images.expand(-1, self.channels, -1, -1)
        if images.shape[-1] != self.input_size or images.shape[-2] != self.input_size:
            images = F.interpolate(images, size=self.input_size, mode="bilinear", align_corners=False)
        return images

    def scores(self, translated: torch.Tensor) -> torch.Tensor:
        """``-d / tau`` for translated images in [0, 1]."""
        from bench.methods.idc.label_images import label_distances

        return -label_distances(translated, self.labels) / self.tau

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        from bench.methods.idc.bridge import per_sample_noise

        assert self.model is not None, "setup() was not called"
        noise = per_sample_noise([sample_generator(int(s)) for s in seeds])
        translated = self.model.translate(self.preprocess(batch["image"]), self.clip_denoised, noise)
        logits = self.scores(translated)
        return {"logits": logits.float(), "distances": (-logits * self.tau).float(), "target": batch["target"]}

    def attack_model(self, view: str = "paper") -> nn.Module:
        assert self.model is not None, "setup() was not called"
        return IDCAttackView(self, view)

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        from bench.methods.idc.model import build_idc
        from bench.methods.idc.training import train_idc

        self.device = device
        seed_everything(int(train_cfg.get("seed", 0)))
        model = build_idc(self.unet, self.bridge)
        return train_idc(model, self._label_images(), train_set, work_dir, device, self.preprocess,
                         resume=resume, **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)

    def provenance(self) -> dict[str, Any]:
        from bench.methods.idc.label_images import label_images_digest

        facts: dict[str, Any] = {**super().provenance(), "checkpoint": self.weights or None,
                                 "label_images_sha256": label_images_digest(
                                     self.labels if self.labels is not None else self._label_images())}
        if self.model is not None:
            facts["parameters"] = sum(p.numel() for p in self.model.parameters())
        return facts
