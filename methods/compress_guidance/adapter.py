"""``CompressGuidanceSampler``: guided ancestral sampling (ADM, DiT, a diffusers UNet) as a generation-task method.

One adapter covers the paper's rows: ``guidance.type`` is ``classifier`` (ADM-G / CADM-G: a noisy ADM classifier,
loaded from its official file or trained by this config's train stage on the backbone's noise process), ``cfg``
(a separate unconditional model, ADM-64 CFG; the null class, DiT; the negative prompt, a ``stable_diffusion``
folder sampled by :mod:`.stable_diffusion` over ``respacing`` scheduler steps) or ``none``; ``guidance.schedule``
picks the steps (:mod:`.schedule`), ``guidance.variant`` how a classifier gradient is weighted (:mod:`.guidance`).

Every sample stores what its sampling cost (``guided_steps``, ``classifier_backwards``, ``extra_forwards``,
``model_forwards``, ``reused_steps``), its share of the batch's wall time (``sampling_seconds``, with ``on_gpu``)
and, with a classifier, that classifier's own prediction on the final image at t = 0 (``guide_prediction``): the
paper's "on-sampling" accuracy, against the extractor's "off-sampling" one.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bench.tasks.generation.exports import to_uint8_images
from bench.method import Method
from bench.precision import dtype_of
from bench.registry import METHODS
from bench.seeding import sample_generator, seed_everything
from bench.store import Columns

GUIDANCE_TYPES = ("classifier", "cfg", "none")
CLASSIFIER_FILE = "noisy_classifier.pt"


@METHODS.register_module()
class CompressGuidanceSampler(Method):
    """Sample ``backbone`` over ``respacing`` steps with ``guidance`` applied at its schedule's steps.

    ``classifier``: ``{"checkpoint": "64x64_classifier.pt", "use_fp16": True}`` (preset from the file name), or
    ``{"flags": {...}}`` for an ADM classifier the train stage fits (the demo). ``rounding`` is the uint8 conversion
    of the original sampling script (``guided_diffusion`` or ``dit``).
    """

    eval_only_params = ("guidance", "respacing", "clip_denoised", "rounding")

    def __init__(self, backbone: dict[str, Any], guidance: dict[str, Any], respacing: str | int = "250",
                 classifier: dict[str, Any] | None = None, clip_denoised: bool = True,
                 rounding: str = "guided_diffusion", smoke_reason: str | None = None) -> None:
        guidance = dict(guidance)
        if guidance.get("type") not in GUIDANCE_TYPES:
            raise ValueError(f"guidance.type must be one of {GUIDANCE_TYPES}, got {guidance.get('type')!r}")
        if guidance["type"] == "classifier" and classifier is None:
            raise ValueError("classifier guidance needs 'classifier' (an ADM classifier checkpoint or flags)")
        self.backbone_spec, self.guidance_spec = dict(backbone), guidance
        self.classifier_spec = dict(classifier) if classifier else None
        self.respacing, self.clip_denoised, self.rounding = str(respacing), bool(clip_denoised), rounding
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.device = torch.device("cpu")
        self.backbone: Any = None
        self.backbone_facts: dict[str, Any] = {}
        self.pipe: Any = None
        self.classifier: torch.nn.Module | None = None
        self.classifier_facts: dict[str, Any] = {}
        self.guidance: Any = None
        self.schedule: Any = None
        self.sampling_seconds = 0.0

    # ----------------------------------------------------------------------------------------------- building
    def _load_classifier(self, device: torch.device) -> tuple[torch.nn.Module, dict[str, Any]]:
        from bench.methods.diffusion.adm import load_adm

        spec = self.classifier_spec or {}
        if "checkpoint" not in spec:
            raise RuntimeError("CompressGuidanceSampler: the classifier has flags but no weights; run the config's "
                               "train stage (bench train/run) first")
        model, facts = load_adm(spec["checkpoint"], preset=spec.get("preset"), flags=spec.get("flags"),
                                use_fp16=bool(spec.get("use_fp16", False)))
        return model.to(device).eval(), facts

    def _build_guidance(self, device: torch.device) -> Any:
        from bench.methods.diffusion.backbones import build_backbone
        from bench.methods.compress_guidance.guidance import ClassifierFreeGuidance, ClassifierGuidance, NoGuidance
        from bench.methods.compress_guidance.schedule import build_schedule

        spec = dict(self.guidance_spec)
        kind = spec.pop("type")
        diffusion = self.backbone.diffusion
        self.schedule = build_schedule(spec.pop("schedule", {"kind": "full"}), diffusion.num_timesteps,
                                       diffusion.num_train_timesteps)
        allowed = {"none": set(), "classifier": {"scale", "variant"},
                   "cfg": {"scale", "unconditional", "combine", "channels"}}[kind]
        if set(spec) - allowed:
            raise ValueError(f"guidance type {kind!r}: unknown option(s) {sorted(set(spec) - allowed)}; "
                             f"it takes schedule and {sorted(allowed)}")
        if kind == "none":
            return NoGuidance()
        scale = float(spec.pop("scale"))
        if kind == "classifier":
            classifier = self.classifier
            return ClassifierGuidance(lambda x, t: classifier(x, t), scale, self.schedule,
                                      spec.pop("variant", "compress"))
        unconditional = spec.pop("unconditional", "null_class")
        if unconditional == "null_class":
            if self.backbone.null_class is None:
                raise ValueError("CFG with unconditional='null_class' needs a backbone with a null class (DiT)")
            null, denoise = self.backbone.null_class, self.backbone.denoise

            def uncond(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
                return denoise(x, t, torch.full((len(x),), null, dtype=torch.long, device=x.device))
        else:
            other = build_backbone(unconditional, self.respacing, device)
            self.backbone.facts["unconditional"] = other.facts
            self.backbone.modules.extend(other.modules)

            def uncond(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
                return other.denoise(x, t, None)
        return ClassifierFreeGuidance(uncond, scale, self.schedule, spec.pop("combine", "x0"),
                                      spec.pop("channels", None))

    def _setup_stable_diffusion(self, device: torch.device) -> None:
        """A Stable Diffusion folder: CFG against the negative prompt, ``respacing`` = the scheduler's step count."""
        from bench.methods.compress_guidance.schedule import build_schedule
        from bench.methods.diffusion.stable_diffusion import load_stable_diffusion

        spec = dict(self.guidance_spec)
        if spec.get("type") != "cfg":
            raise ValueError("a stable_diffusion backbone takes guidance.type='cfg'")
        unknown = set(spec) - {"type", "scale", "schedule", "negative_prompt"}
        if unknown:
            raise ValueError(f"Stable Diffusion CFG: unknown option(s) {sorted(unknown)}; it takes scale, schedule "
                             "and negative_prompt")
        dtype = dtype_of(self.backbone_spec.get("dtype", "fp32"), "backbone.dtype")
        pipe, facts = load_stable_diffusion(self.backbone_spec["model"], dtype,
                                            scheduler=self.backbone_spec.get("scheduler"))
        self.pipe = pipe.to(device)
        self.backbone_facts = {"type": "stable_diffusion", **facts}
        self.schedule = build_schedule(spec.get("schedule", {"kind": "full"}), int(self.respacing))

    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.diffusion.backbones import build_backbone

        self.device = device
        if self.backbone_spec["type"] == "stable_diffusion":
            self._setup_stable_diffusion(device)
            return
        self.backbone = build_backbone(self.backbone_spec, self.respacing, device)
        self.backbone_facts = self.backbone.facts
        if self.classifier_spec is not None:
            self.classifier, self.classifier_facts = self._load_classifier(device)
        self.guidance = self._build_guidance(device)

    # --------------------------------------------------------------------------------------------- sampling
    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        from bench.methods.compress_guidance.guidance import sample_ancestral
        from bench.seeding import step_noise

        generators = [sample_generator(int(seed)) for seed in seeds]
        if self.pipe is not None:
            return self._predict_stable_diffusion(batch, generators)
        assert self.backbone is not None, "setup() was not called"
        labels = batch["class_label"].to(self.device)
        if (labels < 0).any() and (self.backbone.class_conditional or self.classifier is not None):
            raise ValueError("this sampler is class-conditional: set dataset.num_classes so requests carry labels")
        y = labels if (labels >= 0).all() else None
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        noise = step_noise(generators, torch.empty((len(seeds), *self.backbone.sample_shape), device=self.device))
        latents, cost = sample_ancestral(self.backbone.diffusion, self.backbone.denoise, noise, y, self.guidance,
                                         generators, self.clip_denoised)
        images = self.backbone.decode(latents)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        columns = self._columns(batch, images, cost, seconds)
        if self.classifier is not None and y is not None:
            t0 = torch.zeros(len(latents), dtype=torch.long, device=self.device)
            columns["guide_prediction"] = self.classifier(latents.float(), t0).argmax(-1).cpu()
        return columns

    def _predict_stable_diffusion(self, batch: dict[str, Any], generators: list[torch.Generator]) -> Columns:
        from bench.methods.compress_guidance.stable_diffusion import sample_stable_diffusion

        if "prompt" not in batch:
            raise ValueError("a stable_diffusion backbone needs prompts: set dataset.prompts_file")
        spec = self.guidance_spec
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        images, cost = sample_stable_diffusion(
            self.pipe, list(batch["prompt"]), self.schedule, float(spec["scale"]), int(self.respacing), generators,
            height=self.backbone_spec.get("height"), width=self.backbone_spec.get("width"),
            negative_prompt=spec.get("negative_prompt", ""))
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return self._columns(batch, images, cost, time.perf_counter() - start)

    def _columns(self, batch: dict[str, Any], images: torch.Tensor, cost: Any, seconds: float) -> Columns:
        """uint8 images, the request's label, the cost counts and the batch's wall time shared per sample."""
        self.sampling_seconds += seconds
        n = len(images)
        return {"image": to_uint8_images(images, self.rounding).cpu(), "class_label": batch["class_label"],
                **{name: torch.full((n,), value, dtype=torch.int32) for name, value in cost.as_dict().items()
                   if name != "steps"},
                "sampling_seconds": torch.full((n,), seconds / n, dtype=torch.float64),
                "on_gpu": torch.full((n,), self.device.type == "cuda")}

    # ------------------------------------------------------------------------------------- classifier training
    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, image_key: str = "image", **train_cfg: Any) -> Path:
        """Train the noisy ADM classifier of ``classifier.flags`` on ``x_t`` of the backbone's own process (uniform
        t over all T training steps, guided-diffusion's ``classifier_train.py`` with ``noised=True``); writes a raw
        state dict ``noisy_classifier.pt``, the official file layout, which setup loads like a released one."""
        from bench.checkpoint import load_checkpoint_file
        from bench.io import atomic_torch_save, atomic_write_text
        from bench.methods.diffusion.backbones import build_backbone
        from bench.methods.diffusion.adm import build_adm
        from bench.train import train_supervised

        if not self.classifier_spec or "flags" not in self.classifier_spec or "checkpoint" in self.classifier_spec:
            raise ValueError("CompressGuidanceSampler: 'fit' trains a classifier given by 'flags' only")
        out = Path(work_dir) / CLASSIFIER_FILE
        if resume and out.is_file():
            return out
        process = build_backbone(self.backbone_spec, "", torch.device("cpu")).diffusion  # all T steps
        alphas_cumprod = torch.tensor(process.alphas_cumprod, dtype=torch.float32)
        # resolving the backbone may have trained it (another config's train stage), drawing from the global RNG:
        # seed again so the classifier's init and noise draws do not depend on whether that model was cached
        seed_everything(int(train_cfg.get("seed", 0)))
        classifier = build_adm(self.classifier_spec["flags"])

        def loss_fn(net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
            x0 = batch[image_key].to(device).float() * 2 - 1
            t = torch.randint(0, len(alphas_cumprod), (len(x0),), device=device)
            a = alphas_cumprod.to(device)[t].view(-1, 1, 1, 1)
            noisy = a.sqrt() * x0 + (1 - a).sqrt() * torch.randn_like(x0)
            return F.cross_entropy(net(noisy, t), batch["target"].to(device))

        final = train_supervised(classifier, train_set, loss_fn, Path(work_dir), device, resume=resume, **train_cfg)
        atomic_torch_save(out, load_checkpoint_file(final)["state_dict"])
        atomic_write_text(out.with_suffix(".json"), json.dumps({"checkpoint": str(final), **train_cfg}) + "\n")
        return out

    def use_checkpoint(self, path: str | Path) -> None:
        self.classifier_spec = {**(self.classifier_spec or {}), "checkpoint": str(path)}

    def provenance(self) -> dict[str, Any]:
        timesteps = self.backbone.diffusion.timestep_map.tolist() if self.backbone is not None else None
        return {**super().provenance(), "backbone": self.backbone_facts or None,
                "classifier": self.classifier_facts or None, "guidance": self.guidance_spec,
                "schedule": self.schedule.describe(timesteps) if self.schedule is not None else None,
                "respacing": self.respacing, "respaced_steps": len(timesteps) if timesteps else None,
                "clip_denoised": self.clip_denoised, "rounding": self.rounding,
                "sampling_seconds_rank0": round(self.sampling_seconds, 3)}
