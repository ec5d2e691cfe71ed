"""``AMGPixelSampler``: AMG's pixel branch as an adapter of the generation task (Tables 2, 3 and 5; the digits demo).

``backbone`` is a ``bench.methods.diffusion.backbones`` spec: the OpenAI improved-diffusion CIFAR-10 checkpoint
(``dict(type="adm", checkpoint=".../cifar10_uncond_50M_500K.pt")``, the preset carries the flags, the cosine 4000-step
process and improved-diffusion's timestep rescaling), any other ADM / diffusers UNet, or, with ``model_flags`` and
``diffusion``, an ADM U-Net that the train stage fits with improved-diffusion's recipe (the class-conditional CIFAR-10
model, the demo). ``neighbours`` is the nL2 pool, written as the generation task's ``neighbours`` (``dict(pool=<the
training set's dataset spec>, dedup=1.0, k=50, alpha=0.5)``): deduplicated by the official greedy rule and cached
beside the reference statistics (:class:`bench.tasks.generation.neighbours.NeighbourPool`), so guidance and
evaluation measure against the same file.

``guidance`` None samples plainly (the iDDPM rows); otherwise ``dict(setting="main" | "strong", g_sim=True,
schedule="dynamic" | "constant" | "none", comparison="x0" | "noised", ...)`` with any
:class:`~.pixel_sampler.PixelGuidanceSettings` field. Main is the official code's c₃ = 1000 · 80; the paper does not
give Strong's c₃ (the sheet: "values unknown"), we chose twice Main's (``factor`` 160) and say so in every result.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from bench.method import Method
from bench.registry import METHODS
from bench.seeding import sample_generator, step_noise
from bench.store import Columns
from bench.tasks.generation.exports import to_uint8_images

# c₃ of the named settings: Main = the official code (classifier_scale 1000, factor 80); Strong is our choice.
PIXEL_SETTINGS = {"main": {"classifier_scale": 1000.0, "factor": 80.0},
                  "strong": {"classifier_scale": 1000.0, "factor": 160.0}}
SCHEDULE_DEFAULTS = {"a": 1.95, "b": 1.5, "c": 0.025, "d": 0.0, "constant": 1.5}


def pixel_settings(spec: dict[str, Any]) -> Any:
    """:class:`PixelGuidanceSettings` from a config's ``guidance`` dict (named setting, then explicit fields)."""
    from bench.methods.amg.guidance import guidance_fields
    from bench.methods.amg.pixel_sampler import PixelGuidanceSettings

    known = set(PixelGuidanceSettings.__dataclass_fields__) - {"schedule"}
    return PixelGuidanceSettings(**guidance_fields(spec, PIXEL_SETTINGS, SCHEDULE_DEFAULTS, False, known,
                                                   "AMGPixelSampler"))


@METHODS.register_module()
class AMGPixelSampler(Method):
    """Ancestral sampling of a pixel diffusion model with AMG's dissimilarity guidance against a training pool.

    Outputs per sample: ``image`` uint8 [H, W, C], ``class_label``, ``amg_trigger_step`` (respaced step index at which
    guidance switched on, −1 never), ``amg_checks``, ``guided_steps`` (steps whose mean moved), ``amg_nl2_track``
    [steps] (nL2 at each check, NaN elsewhere), ``model_forwards``, ``sampling_seconds``.
    """

    eval_only_params = ("guidance", "respacing", "clip_denoised", "rounding", "neighbours")

    def __init__(self, backbone: dict[str, Any] | None = None, neighbours: dict[str, Any] | None = None,
                 guidance: dict[str, Any] | None = None, respacing: str | int = "250", clip_denoised: bool = True,
                 rounding: str = "guided_diffusion", model_flags: dict[str, Any] | None = None,
                 diffusion: dict[str, Any] | None = None, smoke_reason: str | None = None) -> None:
        if (backbone is None) == (model_flags is None):
            raise ValueError("AMGPixelSampler: give exactly one of 'backbone' (pretrained weights) and 'model_flags' "
                             "(an ADM U-Net that the train stage fits with improved-diffusion's recipe)")
        if model_flags is not None and diffusion is None:
            raise ValueError("AMGPixelSampler: 'model_flags' needs 'diffusion' (steps, noise_schedule, learn_sigma, "
                             "rescale_timesteps) to train and sample it")
        self.settings = pixel_settings(guidance) if guidance is not None else None
        if self.settings is not None and neighbours is None:
            raise ValueError("AMGPixelSampler: guidance needs 'neighbours' (the nL2 pool, as the generation task's: "
                             "dict(pool=dict(type='CIFAR10', split='train'), dedup=1.0))")
        self.backbone_spec = dict(backbone) if backbone is not None else None
        self.neighbours_spec, self.guidance_spec = neighbours, guidance
        self.model_flags, self.diffusion_spec = model_flags, diffusion
        self.respacing, self.clip_denoised, self.rounding = str(respacing), bool(clip_denoised), rounding
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.device = torch.device("cpu")
        self.backbone: Any = None
        self.pool: torch.Tensor | None = None
        self.pool_facts: dict[str, Any] = {}
        self.sampling_seconds = 0.0

    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.diffusion.backbones import build_backbone

        if self.backbone_spec is None:
            raise RuntimeError("AMGPixelSampler: no weights; run the config's train stage (bench run/train) first")
        self.device = device
        self.backbone = build_backbone(self.backbone_spec, self.respacing, device)
        if self.settings is not None:
            from bench.tasks.generation.neighbours import neighbour_pool

            assert self.neighbours_spec is not None
            pool = neighbour_pool(self.neighbours_spec)
            self.pool, self.pool_facts = pool.images.to(device), pool.facts

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        from bench.methods.amg.pixel_sampler import sample_pixel_amg

        assert self.backbone is not None, "setup() was not called"
        generators = [sample_generator(int(seed)) for seed in seeds]
        labels = batch["class_label"].to(self.device)
        if self.backbone.class_conditional and (labels < 0).any():
            raise ValueError("AMGPixelSampler: the model is class-conditional: set dataset.num_classes (and "
                             "labels='balanced' for the official sample_index % 10 cycle)")
        y = labels if self.backbone.class_conditional else None
        start = time.perf_counter()
        noise = step_noise(generators, torch.empty((len(seeds), *self.backbone.sample_shape), device=self.device))
        result = sample_pixel_amg(self.backbone.diffusion, self.backbone.denoise, noise, y, generators,
                                  self.settings, self.pool, self.clip_denoised)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        seconds = time.perf_counter() - start
        self.sampling_seconds += seconds
        n, steps = len(seeds), self.backbone.diffusion.num_timesteps
        return {"image": to_uint8_images(self.backbone.decode(result.samples), self.rounding).cpu(),
                "class_label": batch["class_label"], "amg_trigger_step": result.trigger_step,
                "amg_checks": result.checks, "guided_steps": result.guided_steps,
                "amg_nl2_track": result.nl2_track.float(), "model_forwards": torch.full((n,), steps),
                "sampling_seconds": torch.full((n,), seconds / n, dtype=torch.float64),
                "on_gpu": torch.full((n,), self.device.type == "cuda")}

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, image_key: str = "image", **train_cfg: Any) -> Path:
        """Train the ADM U-Net of ``model_flags`` with improved-diffusion's recipe (hybrid loss, EMA); returns the
        EMA state dict, which ``use_checkpoint`` turns into this sampler's backbone."""
        from bench.methods.diffusion.iddpm_training import train_iddpm

        if self.model_flags is None or self.diffusion_spec is None:
            raise ValueError("AMGPixelSampler: 'fit' needs 'model_flags' and 'diffusion' (pretrained backbones are "
                             "not trained here)")
        label_key = "class_label" if self.model_flags.get("num_classes") else None
        return train_iddpm(dict(self.model_flags), dict(self.diffusion_spec), train_set, Path(work_dir), device,
                           resume=resume, image_key=image_key, label_key=label_key, **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        self.backbone_spec = {"type": "adm", "checkpoint": str(path), "flags": dict(self.model_flags or {}),
                              "diffusion": dict(self.diffusion_spec or {})}

    def provenance(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**super().provenance(), "backbone": self.backbone.facts if self.backbone is not None else None,
                "respacing": self.respacing, "clip_denoised": self.clip_denoised, "rounding": self.rounding,
                "guidance": asdict(self.settings) if self.settings is not None else None,
                "strong_c3_is_our_choice": bool(self.guidance_spec and self.guidance_spec.get("setting") == "strong"),
                "pool": self.pool_facts or None, "sampling_seconds_rank0": round(self.sampling_seconds, 3)}
