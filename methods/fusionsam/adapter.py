"""The FusionSAM method adapter: trains the VQ models, the fusion network and SAM's prompt encoder + per-class
decoder (+ the latent adapter) in turn, and segments RGB-thermal pairs without prompts.

``input`` picks what SAM sees: ``"fused"`` (the fused image, FusionSAM), ``"rgb"`` or ``"thermal"`` (the SAM
baselines); ``adapter`` adds the fused latents to SAM's image embedding (``fmp.LatentAdapter``). A reader's items
hold ``image`` (uint8 [3, H, W] visible), ``thermal`` (uint8 [1, H, W]) and ``gt_seg_map`` (uint8 [H, W]); every
image is resized to the VQ size (``vq_size``; official 256) for LSTG and to SAM's input size for FMP, and the
argmax is resized (nearest) back to the label's size before scoring, as the official ``test.py``.

Per-image cache: like the official ``.mat`` files (``data_gen.py``, ``add_fusion.py``, ``add_point.py``), each
training image's normalised latents, fused image and point prompt are computed once, after the VQ and fusion
stages, and reused for every SAM epoch (in memory); configs that reuse another config's VQ and fusion weights name
its checkpoint as ``fusion_checkpoint`` (an ``upstream`` in the config), so they are trained once.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import ConcatDataset, Dataset

from bench.checkpoint import load_checkpoint_file, load_state_strict
from bench.io import atomic_torch_save, sha256_file
from bench.method import Method, collate_ragged
from bench.methods.fusionsam.fmp import (FusionSamModel, LatentAdapter, build_sam, describe_sam, mask_input_size,
                                        per_class_decoder, point_prompt)
from bench.methods.fusionsam.fusion import SwinFusion, fused_image, fusion_loss, visible_luminance
from bench.methods.fusionsam.lstg import (DEFAULT_VQ, SCALINGS, VQLoss, as_three_channels, build_vq,
                                         encode_latents)
from bench.metrics.segmentation import segmentation_columns
from bench.registry import METHODS
from bench.store import Columns

log = logging.getLogger("bench.methods.fusionsam")
INPUTS = ("fused", "rgb", "thermal")
STAGES = ("vq", "fusion", "sam")
CHECKPOINT = "fusionsam.pth"
#: official fusion-network settings (add_fusion.py); ``in_channels`` comes from the VQ models' latent channels
DEFAULT_FUSION = dict(embed_dim=60, depths=(6, 6, 6, 6), num_heads=(6, 6, 6, 6), window_size=8, mlp_ratio=2.0)
#: official SAM recipe (train_sam.py): Adam lr 1e-4, weight decay 1e-3, batch 2, 100 epochs, constant lr
DEFAULT_SAM_TRAIN = dict(epochs=100, batch_size=2, lr=1e-4, weight_decay=1e-3, lr_schedule="constant")
DEFAULT_VQ_TRAIN = dict(epochs=100, batch_size=8, lr=1e-4, lr_schedule="constant")  # official batch 8; rest unknown
DEFAULT_FUSION_TRAIN = dict(epochs=100, batch_size=8, lr=1e-4, lr_schedule="constant")  # unknown: chosen here


def resize_image(image: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Bilinear resize of uint8-range images [B, C, H, W] (float out)."""
    size = (size, size) if isinstance(size, int) else size
    if tuple(image.shape[-2:]) == tuple(size):
        return image.float()
    return F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False)


def resize_label(label: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Nearest resize of label maps [B, H, W] (long out)."""
    size = (size, size) if isinstance(size, int) else size
    return F.interpolate(label[:, None].float(), size=size, mode="nearest")[:, 0].long()


def training_images(train_set: Dataset, test_set: Dataset | None, train_includes_test: bool) -> Dataset:
    """The training list: the train split, or (``train_includes_test``, as the released ``train_sam.py``, which
    appends the test list to the training list) the train split followed by the test split. The test split is
    never changed."""
    if not train_includes_test:
        return train_set
    if test_set is None:
        raise ValueError("train.train_includes_test=True appends the test split to the training list (as the "
                         "released train_sam.py): give it as train.val_dataset (the official validation set is the "
                         "test list too)")
    return ConcatDataset([train_set, test_set])


class _Items(Dataset):
    """A list of tensor dicts as a map-style dataset (the per-image cache)."""

    def __init__(self, items: list[dict[str, Tensor]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.items[index]


class _SamItems(_Items):
    """The SAM stage's per-image cache: images and labels are kept at their own size (uint8) and resized to SAM's
    input size on access, so the cache of a full benchmark split stays a few GB instead of tens."""

    def __init__(self, items: list[dict[str, Tensor]], size: int) -> None:
        super().__init__(items)
        self.size = size

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        item = dict(self.items[index])
        item["image"] = resize_image(item["image"][None], self.size).round().clamp(0, 255)[0].to(torch.uint8)
        item["label"] = resize_label(item["label"][None].long(), self.size)[0]
        return item


@METHODS.register_module(name="FusionSAM")
class FusionSAM(Method):
    """FusionSAM (arXiv 2408.13980), a documented re-implementation (the public code is partial).

    Args:
        num_classes: label ids 0..num_classes-1 (= the decoder's mask outputs; FMB 15, MFNet 9).
        sam: ``model_type`` (vit_b/l/h) + ``checkpoint`` (official: ``sam_vit_h_4b8939.pth``), or
            ``random_weights``, or ``tiny`` kwargs (as ``bench.methods.trident.adapter.build_sam``).
        input: what SAM sees: ``"fused"``, ``"rgb"`` or ``"thermal"``.
        adapter: inject the fused latents into SAM's image embedding (``fmp.LatentAdapter``, our design).
        vq: ``diffusers.VQModel`` kwargs (one model per modality; ``lstg.DEFAULT_VQ`` when None).
        vq_size: side of the square images the VQ models see (official 256); None: each image's own size.
        vq_input_scaling: ``"per_image"`` min-max to [-1, 1] (official; absolute temperature is lost) or
            ``"fixed"`` (uint8 range to [-1, 1]).
        fusion: ``SwinFusion`` kwargs (``DEFAULT_FUSION``, the official ones, when None).
        freeze_image_encoder: official True (ViT-H weights); False trains it (only where no weights exist).
        prompt: ``points_per_class`` (official 10), ``skip_classes`` (official (0,)), ``dropout`` (probability
            that a training image gets no prompt, the test condition; official 0).
        fusion_checkpoint: a FusionSAM checkpoint whose VQ and fusion weights to reuse (their stages are skipped).
        checkpoint: a trained FusionSAM checkpoint to evaluate (the train stage sets it).
        ignore_index: label value that is not scored (and not trained on).
    """

    eval_only_params = ("checkpoint",)

    def __init__(self, num_classes: int, sam: dict[str, Any], input: str = "fused", adapter: bool = True,
                 vq: dict[str, Any] | None = None, vq_size: int | None = 256, vq_input_scaling: str = "per_image",
                 fusion: dict[str, Any] | None = None,
                 freeze_image_encoder: bool = True, prompt: dict[str, Any] | None = None,
                 fusion_checkpoint: str | None = None, checkpoint: str | None = None,
                 ignore_index: int = 255) -> None:
        if input not in INPUTS:
            raise ValueError(f"FusionSAM input {input!r}; choose from {INPUTS}")
        prompt = dict(prompt or {})
        unknown = set(prompt) - {"points_per_class", "skip_classes", "dropout"}
        if unknown:
            raise ValueError(f"FusionSAM prompt: unknown keys {sorted(unknown)} (known: points_per_class, "
                             "skip_classes, dropout)")
        self.num_classes, self.sam_cfg, self.input, self.use_adapter = int(num_classes), dict(sam), input, adapter
        if vq_input_scaling not in SCALINGS:
            raise ValueError(f"FusionSAM vq_input_scaling {vq_input_scaling!r}; choose from {SCALINGS}")
        self.vq_cfg, self.vq_size, self.fusion_cfg = vq, vq_size, {**DEFAULT_FUSION, **(fusion or {})}
        self.vq_input_scaling = vq_input_scaling
        self.freeze_image_encoder = freeze_image_encoder
        self.points_per_class = int(prompt.get("points_per_class", 10))
        self.skip_classes = tuple(int(c) for c in prompt.get("skip_classes", (0,)))
        self.prompt_dropout = float(prompt.get("dropout", 0.0))
        if not 0.0 <= self.prompt_dropout <= 1.0:
            raise ValueError(f"FusionSAM prompt.dropout must be a probability in [0, 1], got {self.prompt_dropout}")
        self.fusion_checkpoint, self.checkpoint, self.ignore_index = fusion_checkpoint, checkpoint, ignore_index
        self.needs_fusion = input == "fused" or adapter
        reasons = [describe_sam(self.sam_cfg)] if self.sam_cfg.get("tiny") or self.sam_cfg.get("random_weights") \
            else []
        self.smoke = bool(reasons)
        self.smoke_reason = f"{reasons[0]} (SAM weights not here)" if reasons else None
        self.fresh_decoder_keys: list[str] = []
        self.vq_visible: nn.Module | None = None
        self.vq_infrared: nn.Module | None = None
        self.fusion: SwinFusion | None = None
        self.model: FusionSamModel | None = None
        self.device = torch.device("cpu")
        self.weights: dict[str, Any] = {}

    # -- building ----------------------------------------------------------------------------------------
    def build_fusion_parts(self) -> tuple[nn.Module, nn.Module, SwinFusion]:
        """The two VQ models and the fusion network, freshly initialised (in this order: seeds fix them)."""
        vq_visible, vq_infrared = build_vq(self.vq_cfg), build_vq(self.vq_cfg)
        latent_channels = int(vq_visible.config.latent_channels)
        return vq_visible, vq_infrared, SwinFusion(in_channels=latent_channels, **self.fusion_cfg)

    def build_sam_model(self) -> FusionSamModel:
        """Stock SAM (weights as ``sam`` says) with the per-class decoder and, with ``adapter``, the adapter."""
        sam = build_sam(self.sam_cfg)
        self.fresh_decoder_keys = per_class_decoder(sam, self.num_classes)
        adapter = None
        if self.use_adapter:
            latent = int({**DEFAULT_VQ, **(self.vq_cfg or {})}["latent_channels"])
            inputs = 2 * latent + int(self.fusion_cfg["embed_dim"])  # both latents + fused features
            adapter = LatentAdapter(inputs, int(sam.prompt_encoder.embed_dim))
        return FusionSamModel(sam, adapter, self.freeze_image_encoder)

    # -- per-image inputs ----------------------------------------------------------------------------------
    def latents(self, visible: Tensor, thermal: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised pre-quantisation latents of both modalities ([B, C, h, w] each) at the VQ size."""
        assert self.vq_visible is not None and self.vq_infrared is not None, "VQ models not built"
        size = self.vq_size or tuple(visible.shape[-2:])
        with torch.no_grad():
            return (encode_latents(self.vq_visible, resize_image(visible, size), self.vq_input_scaling),
                    encode_latents(self.vq_infrared, resize_image(thermal, size), self.vq_input_scaling))

    def inputs(self, visible: Tensor, thermal: Tensor) -> tuple[Tensor, Tensor | None]:
        """What SAM sees (uint8 range, float [B, 3, H, W] at the input size): the visible image, the thermal image
        as 3 channels, or the fused image quantised to uint8 (the official pipeline saves it as uint8); and the
        adapter's input (None without adapter): both modalities' normalised latents (what the official
        ``adapter_model(vis_emb, inf_emb, image_embedding)`` receives) and the fusion network's fused features,
        stacked on channels. The fusion network runs once for both."""
        if not self.needs_fusion:
            return (visible.float() if self.input == "rgb" else as_three_channels(thermal.float())), None
        assert self.fusion is not None
        latents = self.latents(visible, thermal)
        with torch.no_grad():
            features = self.fusion.fused_features(*latents)
            adapter_input = torch.cat([*latents, features], dim=1) if self.use_adapter else None
            if self.input != "fused":
                return (visible.float() if self.input == "rgb" else as_three_channels(thermal.float())), adapter_input
            luminance = self.fusion.to_luminance(features).clamp(0, 1)
        return fused_image(luminance, visible.float()).round(), adapter_input

    # -- training ----------------------------------------------------------------------------------------
    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """VQ models, then the fusion network (skipped for the RGB / thermal baselines, or loaded from
        ``fusion_checkpoint``), then SAM; each stage resumes from its own folder under ``work_dir``.

        Train keys: ``seed``; ``train_includes_test`` (official: True; clean default False; needs
        ``val_dataset`` = the test split); ``vq``, ``fusion``, ``sam``: each stage's ``bench.train.train_supervised``
        settings (epochs, batch_size, lr, weight_decay, lr_schedule, ...), ``fusion`` also ``intensity`` /
        ``gradient`` (its loss weights) and ``vq`` ``reconstruction`` / ``codebook``.
        """
        from bench.train import train_supervised

        work_dir, self.device = Path(work_dir), device
        final = work_dir / CHECKPOINT
        if resume and final.is_file():
            return final
        settings = dict(train_cfg)
        seed = int(settings.pop("seed", 0))
        leak = bool(settings.pop("train_includes_test", False))
        stage_cfgs = {name: dict(settings.pop(name, None) or {}) for name in STAGES}
        if settings:
            raise ValueError(f"FusionSAM train: unknown keys {sorted(settings)} (known: seed, train_includes_test, "
                             f"val_dataset, {', '.join(STAGES)})")
        images = training_images(train_set, val_set, leak)
        self._check_items(images[0])
        parts: dict[str, Any] = {}
        if self.needs_fusion:
            parts.update(self._fit_fusion_parts(images, work_dir, device, seed, stage_cfgs, resume, train_supervised))
        torch.manual_seed(seed)  # SAM's fresh weights do not depend on whether earlier stages resumed
        self.model = self.build_sam_model()
        cache = self._prepare(images, seed)
        sam_cfg = {**DEFAULT_SAM_TRAIN, **stage_cfgs["sam"]}
        sam_final = train_supervised(self.model, cache, self._sam_loss, work_dir / "sam", device, seed=seed,
                                     resume=resume, **sam_cfg)
        load_state_strict(self.model, load_checkpoint_file(sam_final)["state_dict"], sam_final)
        parts["sam"] = self.model.state_dict()
        atomic_torch_save(final, {"state_dict": parts, "meta": {
            "train_images": len(images), "train_includes_test": leak, "seed": seed,
            "fusion_checkpoint": self.fusion_checkpoint, "fresh_decoder_keys": self.fresh_decoder_keys}})
        log.info("FusionSAM trained on %d images (%s)", len(images), final)
        return final

    def _fit_fusion_parts(self, images: Dataset, work_dir: Path, device: torch.device, seed: int,
                          stage_cfgs: dict[str, dict[str, Any]], resume: bool, train_supervised: Any) -> dict:
        torch.manual_seed(seed)
        vq_visible, vq_infrared, fusion = self.build_fusion_parts()
        if self.fusion_checkpoint is not None:
            self._load_fusion_parts(vq_visible, vq_infrared, fusion, self.fusion_checkpoint)
            self.vq_visible, self.vq_infrared = vq_visible.to(device).eval(), vq_infrared.to(device).eval()
            self.fusion = fusion.to(device).eval()
            return {"vq_visible": vq_visible.state_dict(), "vq_infrared": vq_infrared.state_dict(),
                    "fusion": fusion.state_dict()}
        vq_cfg = {**DEFAULT_VQ_TRAIN, **stage_cfgs["vq"]}
        vq_loss = VQLoss(reconstruction=float(vq_cfg.pop("reconstruction", 1.0)),
                         codebook=float(vq_cfg.pop("codebook", 1.0)), scaling=self.vq_input_scaling)
        trained = {}
        for name, model, key in (("vq_visible", vq_visible, "image"), ("vq_infrared", vq_infrared, "thermal")):
            size = self.vq_size
            pixels = _Items([{"image": resize_image(images[i][key][None], size or images[i][key].shape[-2:])[0]}
                             for i in range(len(images))])
            path = train_supervised(model, pixels, lambda m, b: vq_loss(m, b["image"].to(device)), work_dir / name,
                                    device, seed=seed, resume=resume, **vq_cfg)
            load_state_strict(model, load_checkpoint_file(path)["state_dict"], path)
            trained[name] = model.to(device).eval()  # a finished stage returns without moving it
        self.vq_visible, self.vq_infrared = trained["vq_visible"], trained["vq_infrared"]
        fusion_cfg = {**DEFAULT_FUSION_TRAIN, **stage_cfgs["fusion"]}
        weights = {"intensity": float(fusion_cfg.pop("intensity", 1.0)),
                   "gradient": float(fusion_cfg.pop("gradient", 1.0))}
        pairs = []
        for i in range(len(images)):
            item = images[i]
            vis, inf = self.latents(item["image"][None].to(device), item["thermal"][None].to(device))
            visible = resize_image(item["image"][None], self.vq_size or item["image"].shape[-2:])
            thermal = resize_image(item["thermal"][None], self.vq_size or item["thermal"].shape[-2:])
            pairs.append({"vis": vis[0].cpu(), "inf": inf[0].cpu(), "visible_y": visible_luminance(visible)[0],
                          "infrared": thermal[0] / 255})

        def loss(net: nn.Module, batch: dict[str, Tensor]) -> dict[str, Tensor]:
            batch = {key: value.to(device) for key, value in batch.items()}
            out = F.interpolate(net(batch["vis"], batch["inf"]), size=batch["visible_y"].shape[-2:],
                                mode="bilinear", align_corners=False)
            return fusion_loss(out, batch["visible_y"], batch["infrared"], **weights)

        path = train_supervised(fusion, _Items(pairs), loss, work_dir / "fusion", device, seed=seed, resume=resume,
                                **fusion_cfg)
        load_state_strict(fusion, load_checkpoint_file(path)["state_dict"], path)
        self.fusion = fusion.to(device).eval()
        return {"vq_visible": vq_visible.state_dict(), "vq_infrared": vq_infrared.state_dict(),
                "fusion": fusion.state_dict()}

    def _prepare(self, images: Dataset, seed: int) -> _SamItems:
        """The per-image cache of the SAM stage: SAM input image (uint8), label, point prompt and, with the
        adapter, the fused latent features; prompts are seeded by (seed, image index), fixed across epochs as the
        official cached ``cond``."""
        assert self.model is not None
        size = self.model.sam.image_encoder.img_size
        prompt_size = mask_input_size(self.model.sam)
        items = []
        for i in range(len(images)):
            item = images[i]
            visible, thermal = item["image"][None].to(self.device), item["thermal"][None].to(self.device)
            image, fused = self.inputs(visible, thermal)
            label = torch.as_tensor(item["gt_seg_map"])
            entry = {"image": image[0].round().clamp(0, 255).to(torch.uint8).cpu(), "label": label.to(torch.uint8),
                     "prompt": point_prompt(label, prompt_size, self.points_per_class, seed * 1_000_003 + i,
                                            self.skip_classes, self.ignore_index)}
            if fused is not None:
                entry["fused_latent"] = fused[0].cpu()
            items.append(entry)
        return _SamItems(items, size)

    def _sam_loss(self, model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        """Cross-entropy over classes of the upsampled per-class logits; each image keeps its point prompt unless
        ``prompt.dropout`` drops it (global RNG: resumed exactly by the training loop)."""
        device = self.device
        keep = torch.rand(batch["image"].shape[0]) >= self.prompt_dropout
        prompts = [p[None].to(device) if k else None for p, k in zip(batch["prompt"], keep.tolist(), strict=True)]
        logits = model(batch["image"].to(device).float(), prompts,
                       batch["fused_latent"].to(device) if "fused_latent" in batch else None)
        return F.cross_entropy(logits, batch["label"].to(device), ignore_index=self.ignore_index)

    def _check_items(self, item: dict[str, Any]) -> None:
        missing = [key for key in ("image", "thermal", "gt_seg_map") if key not in item]
        if missing:
            raise ValueError(f"FusionSAM needs RGB-thermal items with image, thermal and gt_seg_map; the dataset's "
                             f"items lack {missing} (use an RGB-thermal reader: FMB, MFNet, GeneratedRGBTScenes)")

    # -- evaluation ----------------------------------------------------------------------------------------
    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)

    def setup(self, device: torch.device, seed: int = 0) -> None:
        if not self.checkpoint or not Path(self.checkpoint).is_file():
            raise FileNotFoundError(f"FusionSAM checkpoint not found: {self.checkpoint!r}. No trained FusionSAM "
                                    "weights are published: add a train section (bench train) or set "
                                    f"method.checkpoint to a {CHECKPOINT} that bench train wrote")
        self.device = device
        state = load_checkpoint_file(self.checkpoint).get("state_dict", {})
        self._load_parts(state, self.checkpoint)
        self.weights = {"path": self.checkpoint, "sha256": sha256_file(self.checkpoint)}

    def setup_untrained(self, device: torch.device, seed: int = 0) -> None:
        """The untrained models (``bench validate`` before the train stage ran)."""
        self.device = device
        if self.needs_fusion:
            vq_visible, vq_infrared, fusion = self.build_fusion_parts()
            self.vq_visible, self.vq_infrared = vq_visible.to(device).eval(), vq_infrared.to(device).eval()
            self.fusion = fusion.to(device).eval()
        self.model = self.build_sam_model().to(device).eval()

    def _load_parts(self, state: dict[str, Any], path: str | Path) -> None:
        missing = [k for k in (["vq_visible", "vq_infrared", "fusion"] if self.needs_fusion else []) + ["sam"]
                   if k not in state]
        if missing:
            raise ValueError(f"{path} is not a FusionSAM checkpoint for this config: it lacks {missing} (it holds "
                             f"{sorted(state)}); input={self.input!r}, adapter={self.use_adapter}")
        if self.needs_fusion:
            vq_visible, vq_infrared, fusion = self.build_fusion_parts()
            for name, module in (("vq_visible", vq_visible), ("vq_infrared", vq_infrared), ("fusion", fusion)):
                load_state_strict(module, state[name], path)
            self.vq_visible, self.vq_infrared = vq_visible.to(self.device).eval(), vq_infrared.to(self.device).eval()
            self.fusion = fusion.to(self.device).eval()
        model = self.build_sam_model()
        load_state_strict(model, state["sam"], path)
        self.model = model.to(self.device).eval()

    def _load_fusion_parts(self, vq_visible: nn.Module, vq_infrared: nn.Module, fusion: nn.Module,
                           path: str) -> None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"FusionSAM fusion_checkpoint not found: {path!r} (a {CHECKPOINT} of a fused "
                                    "FusionSAM config; in a config, an upstream with product='checkpoint')")
        state = load_checkpoint_file(path).get("state_dict", {})
        for name, module in (("vq_visible", vq_visible), ("vq_infrared", vq_infrared), ("fusion", fusion)):
            if name not in state:
                raise ValueError(f"fusion_checkpoint {path} holds no {name!r} weights (it holds {sorted(state)}): "
                                 "name the checkpoint of a config with input='fused'")
            load_state_strict(module, state[name], path)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, ("image", "thermal", "gt_seg_map", "img_path", "seg_map_path"))

    def segment(self, visible: Tensor, thermal: Tensor, out_size: tuple[int, int]) -> Tensor:
        """Labels [H, W] of one pair (uint8 [3, H, W] and [1, H, W]), without prompts (the official test)."""
        assert self.model is not None, "setup() was not called"
        visible, thermal = visible[None].to(self.device), thermal[None].to(self.device)
        image, fused = self.inputs(visible, thermal)
        image = resize_image(image, self.model.sam.image_encoder.img_size).round().clamp(0, 255)
        with torch.no_grad():
            logits = self.model(image, None, fused)
        labels = logits.argmax(1)
        return resize_label(labels, out_size)[0].cpu()

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        labels = [torch.as_tensor(label) for label in batch["gt_seg_map"]]
        preds = [self.segment(torch.as_tensor(v), torch.as_tensor(t), tuple(label.shape))
                 for v, t, label in zip(batch["image"], batch["thermal"], labels, strict=True)]
        return segmentation_columns(preds, labels, self.num_classes, self.ignore_index)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "checkpoint": self.weights or None, "input": self.input,
                "vq_input_scaling": self.vq_input_scaling,
                "adapter": self.use_adapter, "sam": describe_sam(self.sam_cfg),
                "freeze_image_encoder": self.freeze_image_encoder, "fresh_decoder_keys": self.fresh_decoder_keys,
                "prompt": {"points_per_class": self.points_per_class, "skip_classes": list(self.skip_classes),
                           "dropout": self.prompt_dropout, "test": "none"}}
