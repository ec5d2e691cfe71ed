"""ConFiner's experts loaded from local diffusers folders by ``kind``: each gives the chain a
:class:`~bench.methods.confiner.schedules.Expert` (ε(x, t) with the batch's text conditioning and CFG closed over, its
``alphas_cumprod``, layout and native latent size), samples with its own scheduler (the control stage and the
single-expert baselines) and decodes through one :class:`Codec`.

Kinds and folder layouts (local files only; a wrong folder raises a :class:`PipelineLayoutError` naming the path,
the expected layout and how to get it):

=================  ==========  ===========================================================================
kind               layout      folder
=================  ==========  ===========================================================================
``animatediff``    video       ``model``: a Stable Diffusion 1.5 pipeline folder (the control expert's base,
                               e.g. ``emilianJR/epiCRealism``); ``motion_adapter``: a ``MotionAdapter`` folder
                               (``config.json`` + weights) or AnimateDiff-Lightning's single file
                               ``animatediff_lightning_{4,8}step_diffusers.safetensors`` (a ``MotionAdapter()``
                               state dict, architecture from ``motion_adapter_config``, default diffusers').
                               Scheduler ``EulerDiscreteScheduler`` with ``timestep_spacing="trailing"``,
                               ``beta_schedule="linear"`` and guidance 1 (no CFG batch): Lightning's model card.
``stable_diffusion`` frames    a ``StableDiffusionPipeline`` folder (SD 1.5); DDIM from its scheduler config, CFG 7.5.
``text_to_video``  video       a ``TextToVideoSDPipeline`` folder (ModelScope T2V); DDIM, CFG 9.0.
``pixel_image``    frames      ``unet/`` (``UNet2DModel``: unconditional, the prompt is ignored; or
                               ``UNet2DConditionModel`` with ``text_encoder/`` + ``tokenizer/``) and
                               ``scheduler/``; ``model_index.json`` optional (a ``DDPMPipeline`` folder works);
                               no VAE: the samples in [-1, 1] are the frames. DDIM, CFG 7.5 if conditional.
``pixel_video``    video       the video-memorization toy's pixel-space ``TextToVideoSDPipeline`` folder (no
                               ``vae``; :func:`~bench.methods.vdm_memorization.video_sampling.load_text_to_video`);
                               DDIM, CFG 9.0.
=================  ==========  ===========================================================================

Every default (scheduler class and overrides, guidance) is the corresponding diffusers pipeline's or model card's and
can be overridden per expert (:class:`ExpertSpec`). Guidance 1 means no CFG batch (diffusers'
``do_classifier_free_guidance`` is ``guidance_scale > 1``), so one call is one UNet evaluation.

Numerics: the chain's latent stays float32 [B, C, F, h, w]; each UNet call casts its input to the UNet's dtype and
its ε̂ back to float32. ε̂ = ε_u + s (ε_c − ε_u) on the doubled batch [unconditional, conditional], as diffusers'
pipelines; AnimateDiff's ``UNetMotionModel`` and image UNets on frames take the text states repeated per frame.
"""
from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.io import sha256_file
from bench.methods.confiner.layouts import from_expert, to_expert
from bench.methods.confiner.schedules import Expert, NFEMeter
from bench.methods.diffusion.stable_diffusion import (DIFFUSERS_WEIGHTS, PipelineLayoutError, check_layout,
                                                      weight_files)
from bench.methods.diffusion.video_latents import frames_to_video, video_to_frames

KINDS: tuple[str, ...] = ("animatediff", "stable_diffusion", "text_to_video", "pixel_image", "pixel_video")
LAYOUT_OF = {"animatediff": "video", "stable_diffusion": "frames", "text_to_video": "video", "pixel_image": "frames",
             "pixel_video": "video"}
# (scheduler class, overrides of the folder's scheduler config) per kind: AnimateDiff-Lightning's model card
# (EulerDiscreteScheduler.from_config(..., timestep_spacing="trailing", beta_schedule="linear")); DDIM for the others
# (x̂0 <-> x_t steps; ModelScope's diffusers default is DPM-Solver, SD 1.5's folder ships PNDM, whose first step
# calls the UNet twice).
DEFAULT_SCHEDULER: dict[str, tuple[str, dict[str, Any]]] = {
    "animatediff": ("EulerDiscreteScheduler", {"timestep_spacing": "trailing", "beta_schedule": "linear"}),
    "stable_diffusion": ("DDIMScheduler", {}), "text_to_video": ("DDIMScheduler", {}),
    "pixel_image": ("DDIMScheduler", {}), "pixel_video": ("DDIMScheduler", {})}
# CFG scale per kind: Lightning's 1.0 (model card), diffusers' __call__ defaults otherwise (StableDiffusionPipeline
# 7.5, TextToVideoSDPipeline 9.0); the pixel kinds follow the pipeline their folder imitates.
DEFAULT_GUIDANCE = {"animatediff": 1.0, "stable_diffusion": 7.5, "text_to_video": 9.0, "pixel_image": 7.5,
                    "pixel_video": 9.0}
SPEC_KEYS = ("kind", "model", "motion_adapter", "motion_adapter_config", "guidance_scale", "scheduler",
             "scheduler_overrides", "negative_prompt")

PIXEL_IMAGE_LAYOUT = """
<folder>/unet/config.json + diffusion_pytorch_model.safetensors  (UNet2DModel, or UNet2DConditionModel; or .bin)
<folder>/scheduler/scheduler_config.json
<folder>/text_encoder/config.json + model.safetensors   (CLIPTextModel; only for a UNet2DConditionModel)
<folder>/tokenizer/tokenizer.json, or vocab.json + merges.txt   (only for a UNet2DConditionModel)
(model_index.json optional, e.g. a DDPMPipeline folder; no vae: the samples in [-1, 1] are the frames)
"""
PIXEL_IMAGE_FIX = ("save a trained model with DDPMPipeline(unet, scheduler).save_pretrained(<folder>) (what "
                   "bench.methods.diffusion.training.train_ddpm writes under model/), or save a UNet2DConditionModel, "
                   "CLIPTextModel, CLIPTokenizer and scheduler into those subfolders, and pass <folder>")
LIGHTNING_LAYOUT = """
<file>  animatediff_lightning_{1,2,4,8}step_diffusers.safetensors  (a MotionAdapter() state dict)
or <folder>/config.json + diffusion_pytorch_model.safetensors      (a MotionAdapter folder; or .bin)
"""
LIGHTNING_FIX = ("on a machine with internet run `huggingface-cli download ByteDance/AnimateDiff-Lightning "
                 "animatediff_lightning_4step_diffusers.safetensors --local-dir <folder>` (8step for 8 control steps), "
                 "copy it here and pass the file's path as motion_adapter")


class PixelImageLayoutError(PipelineLayoutError):
    """A ``pixel_image`` expert folder is missing or incomplete."""

    TITLE, LAYOUT, FIX = "pixel-space image expert (pixel_image)", PIXEL_IMAGE_LAYOUT, PIXEL_IMAGE_FIX


class MotionAdapterLayoutError(PipelineLayoutError):
    """AnimateDiff-Lightning's motion adapter file (or a MotionAdapter folder) is missing or unreadable."""

    TITLE, LAYOUT, FIX = "AnimateDiff motion adapter (AnimateDiff-Lightning)", LIGHTNING_LAYOUT, LIGHTNING_FIX


@dataclass(frozen=True)
class ExpertSpec:
    """One expert of a config (``experts=dict(control=dict(kind=..., model=...), ...)``).

    Args:
        kind: one of :data:`KINDS` (module docstring: layouts).
        model: the folder (``animatediff``: the Stable Diffusion 1.5 base folder).
        motion_adapter: ``animatediff`` only: a MotionAdapter folder or AnimateDiff-Lightning's ``.safetensors``.
        motion_adapter_config: ``MotionAdapter`` constructor arguments for a single-file adapter (None: diffusers'
            defaults, the architecture of AnimateDiff-Lightning's files).
        guidance_scale: CFG scale s (None: :data:`DEFAULT_GUIDANCE`); s = 1 runs no unconditional batch.
        scheduler: diffusers scheduler class for the expert's own sampling (None: :data:`DEFAULT_SCHEDULER`).
        scheduler_overrides: overrides of the folder's scheduler config (None: the kind's defaults).
        negative_prompt: the unconditional prompt of CFG (diffusers' default: empty).
    """

    kind: str
    model: str
    motion_adapter: str | None = None
    motion_adapter_config: Mapping[str, Any] | None = None
    guidance_scale: float | None = None
    scheduler: str | None = None
    scheduler_overrides: Mapping[str, Any] | None = None
    negative_prompt: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"expert kind must be one of {KINDS}, got {self.kind!r}")
        if (self.motion_adapter is None) == (self.kind == "animatediff"):
            raise ValueError(f"expert kind {self.kind!r}: motion_adapter is needed by kind 'animatediff' and only "
                             f"by it (got {self.motion_adapter!r})")
        if self.guidance_scale is not None and self.guidance_scale < 1:
            raise ValueError(f"expert guidance_scale must be >= 1 (1: no CFG), got {self.guidance_scale}")

    @classmethod
    def from_config(cls, spec: Mapping[str, Any] | ExpertSpec, role: str = "expert") -> ExpertSpec:
        """A spec from a config dict; unknown keys are an error naming the role and the known keys."""
        if isinstance(spec, ExpertSpec):
            return spec
        unknown = sorted(set(spec) - set(SPEC_KEYS))
        if unknown or "kind" not in spec or "model" not in spec:
            raise ValueError(f"experts.{role}: needs 'kind' and 'model' and takes only {list(SPEC_KEYS)}; got keys "
                             f"{sorted(spec)} (unknown: {unknown})")
        values: dict[str, Any] = {k: (str(v) if k in ("model", "motion_adapter") and v is not None else v)
                                  for k, v in spec.items()}
        return cls(**values)

    @property
    def layout(self) -> str:
        return LAYOUT_OF[self.kind]


@dataclass
class Conditioning:
    """One batch's text states for an expert: ``cond`` (B, L, d) and ``uncond`` (1, L, d); both None for an
    unconditional model (the prompt is ignored)."""

    cond: torch.Tensor | None = None
    uncond: torch.Tensor | None = None

    @property
    def batch(self) -> int | None:
        return None if self.cond is None else int(self.cond.shape[0])


@dataclass
class Codec:
    """Latent [B, C, F, h, w] ↔ uint8 frames [B, F, H, W, 3]: the SD-1.x VAE (frames decoded independently,
    ``latents / scaling_factor`` as diffusers' ``decode_latents``) or, ``vae`` None, the identity of pixel space
    (samples in [-1, 1]; one channel repeated to three)."""

    vae: Any = None
    chunk_size: int = 16

    @property
    def scale(self) -> int:
        """Pixels per latent pixel."""
        return 1 if self.vae is None else 2 ** (len(self.vae.config.block_out_channels) - 1)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        from bench.methods.bright_ending.sampling import to_uint8

        if latents.dim() != 5:
            raise ValueError(f"Codec.decode: expected latents [B, C, F, h, w], got shape {tuple(latents.shape)}")
        batch, frames = latents.shape[0], latents.shape[2]
        flat = video_to_frames(latents)
        if self.vae is None:
            pixels = to_uint8(flat).cpu()
        else:
            if flat.shape[1] != self.vae.config.latent_channels:
                raise ValueError(f"Codec.decode: the VAE takes {self.vae.config.latent_channels}-channel latents, got "
                                 f"{flat.shape[1]}")
            flat = flat.to(self.vae.device, self.vae.dtype) / self.vae.config.scaling_factor
            pixels = torch.cat([to_uint8(self.vae.decode(flat[i:i + self.chunk_size], return_dict=False)[0]).cpu()
                                for i in range(0, flat.shape[0], self.chunk_size)])
        return pixels.reshape(batch, frames, *pixels.shape[1:])


@dataclass
class LoadedExpert:
    """A loaded expert's components (``text_encoder``/``tokenizer`` None for an unconditional model, ``vae`` None in
    pixel space) with its ``scheduler`` (the one it samples with; its ``alphas_cumprod`` are the expert's ᾱ)."""

    spec: ExpertSpec
    unet: Any
    scheduler: Any
    text_encoder: Any = None
    tokenizer: Any = None
    vae: Any = None
    facts: dict[str, Any] = field(default_factory=dict)
    _uncond: torch.Tensor | None = None

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def layout(self) -> str:
        return self.spec.layout

    @property
    def conditional(self) -> bool:
        return self.text_encoder is not None

    @property
    def guidance_scale(self) -> float:
        """The CFG scale (1.0 for an unconditional model: there is no text to guide by)."""
        scale = self.spec.guidance_scale
        if not self.conditional:
            return 1.0
        return float(DEFAULT_GUIDANCE[self.kind] if scale is None else scale)

    @property
    def guided(self) -> bool:
        """Whether a call runs the CFG-doubled batch (two UNet evaluations)."""
        return self.conditional and self.guidance_scale != 1.0

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def native_size(self) -> tuple[int, int]:
        """The UNet's native latent (h, w) (``sample_size``: 64 for SD 1.5 at 512², 32 for ModelScope at 256²)."""
        size = self.unet.config.sample_size
        return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))

    @property
    def device(self) -> torch.device:
        return self.unet.device

    def codec(self, chunk_size: int = 16) -> Codec:
        """The decoder of this expert's latent space (its VAE; identity in pixel space)."""
        return Codec(self.vae, chunk_size)

    def to(self, device: torch.device | str) -> LoadedExpert:
        for module in (self.unet, self.text_encoder, self.vae):
            if module is not None:
                module.to(device)
        return self

    @torch.no_grad()
    def _encode(self, prompts: list[str]) -> torch.Tensor:
        ids = self.tokenizer(prompts, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return self.text_encoder(ids.to(self.text_encoder.device))[0].to(self.unet.dtype)

    def encode(self, prompts: Sequence[str]) -> Conditioning:
        """The text states of a batch's prompts (as ``StableDiffusionPipeline.encode_prompt`` for SD 1.x: last hidden
        states, no attention mask) and of the negative prompt; empty for an unconditional model."""
        if not self.conditional:
            return Conditioning()
        if self._uncond is None and self.guided:
            self._uncond = self._encode([self.spec.negative_prompt])
        return Conditioning(self._encode(list(prompts)), self._uncond)

    @torch.no_grad()
    def unet_eps(self, x: torch.Tensor, t: int | float | torch.Tensor, text: Conditioning) -> torch.Tensor:
        """ε̂ (float32) for ``x`` in this expert's layout at timestep ``t``, with CFG when :attr:`guided`."""
        unet = self.unet
        sample = x.to(unet.device, unet.dtype)
        timestep = torch.as_tensor(t, device=unet.device)
        if not self.conditional:
            return unet(sample, timestep, return_dict=False)[0].float()
        cond = text.cond
        if cond is None:
            raise ValueError(f"expert {self.kind!r} is text-conditioned: encode the batch's prompts first")
        batch, states = cond.shape[0], cond
        if self.guided:
            if text.uncond is None:
                raise ValueError(f"expert {self.kind!r} runs CFG (guidance {self.guidance_scale}): no negative "
                                 "prompt states")
            states = torch.cat([text.uncond.expand(batch, -1, -1), cond])
        if self.layout == "frames" or self.kind == "animatediff":  # text states per frame (AnimateDiffPipeline too)
            frames = sample.shape[0] // batch if self.layout == "frames" else sample.shape[2]
            states = states.repeat_interleave(frames, dim=0)
        if self.guided:
            eps_u, eps_c = unet(torch.cat([sample, sample]), timestep, encoder_hidden_states=states,
                                return_dict=False)[0].float().chunk(2)
            return eps_u + self.guidance_scale * (eps_c - eps_u)
        return unet(sample, timestep, encoder_hidden_states=states, return_dict=False)[0].float()

    def expert(self, name: str, text: Conditioning, size: tuple[int, int] | None = None) -> Expert:
        """The chain's view of this expert for one batch: ε(x, t) in its layout with ``text`` closed over, its ᾱ
        (the sampling scheduler's ``alphas_cumprod``), ``size`` its latent size under the ``"native"`` policy."""
        return Expert.from_scheduler(name, lambda x, t: self.unet_eps(x, t, text), self.scheduler,
                                     layout=self.layout, size=size, guided=self.guided)

    @torch.no_grad()
    def sample(self, noise: torch.Tensor, text: Conditioning, steps: int, meter: NFEMeter | None = None,
               name: str = "control", eps_hook: Callable[[torch.Tensor, float], torch.Tensor] | None = None
               ) -> torch.Tensor:
        """``steps`` steps of the expert's own scheduler from ``noise`` [B, C, F, h, w] (standard normal, scaled by
        ``init_noise_sigma``), as the diffusers pipeline's loop (``scale_model_input``, ε̂, ``step``; AnimateDiff
        steps the 5-D latent, the others frames); returns the clean latent [B, C, F, h, w] in float32. UNet calls
        are counted in ``meter`` under ``name``; a scheduler that calls the UNet more than once per step (PNDM,
        Heun) is counted per call. ``eps_hook(ε̂, t)`` corrects each ε̂ (shared layout) before the step
        (ConFiner-Long's coherence guidance)."""
        if steps < 1:
            raise ValueError(f"expert {self.kind!r}: sampling needs steps >= 1, got {steps}")
        scheduler = self.scheduler
        scheduler.set_timesteps(steps, device=noise.device)
        latents = noise.float() * scheduler.init_noise_sigma
        batch = noise.shape[0]
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(latents, t)
            eps = from_expert(self.unet_eps(to_expert(model_input, self.layout), t, text), self.layout, batch)
            if meter is not None:
                meter.count(name, 2 if self.guided else 1)
            eps = eps.to(latents.device)
            if eps_hook is not None:
                eps = eps_hook(eps, float(t))
            if self.layout == "video":
                latents = scheduler.step(eps, t, latents, return_dict=False)[0]
            else:
                latents = frames_to_video(scheduler.step(video_to_frames(eps), t, video_to_frames(latents),
                                                         return_dict=False)[0], batch)
        return latents.float()


def _scheduler_from(config: Mapping[str, Any], spec: ExpertSpec) -> tuple[Any, dict[str, Any]]:
    from bench.methods.diffusion.adapter import build_scheduler

    name, overrides = DEFAULT_SCHEDULER[spec.kind]
    name = spec.scheduler or name
    overrides = dict(overrides if spec.scheduler_overrides is None else spec.scheduler_overrides)
    return build_scheduler({"type": name, **overrides}, dict(config)), overrides


def _scheduler_facts(scheduler: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    return {"scheduler_class": type(scheduler).__name__, "scheduler_overrides": dict(overrides),
            "scheduler_config": {k: list(v) if isinstance(v, tuple) else v for k, v in dict(scheduler.config).items()
                                 if not k.startswith("_")}}


def _low_memory() -> bool:
    return importlib.util.find_spec("accelerate") is not None  # without accelerate diffusers warns


def _load_motion_adapter(spec: ExpertSpec, dtype: torch.dtype) -> tuple[Any, dict[str, Any]]:
    """A ``MotionAdapter`` from a folder or from AnimateDiff-Lightning's single ``.safetensors`` file (strict)."""
    from diffusers import MotionAdapter

    path = Path(str(spec.motion_adapter)).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise MotionAdapterLayoutError(path / "config.json", "motion adapter folder has no config.json")
        files = [path / "config.json", *weight_files(path, "motion_adapter", MotionAdapterLayoutError,
                                                     DIFFUSERS_WEIGHTS)]
        adapter = MotionAdapter.from_pretrained(str(path), local_files_only=True, torch_dtype=dtype)
        return adapter, {"motion_adapter": str(path), "motion_adapter_format": "diffusers_folder",
                         "motion_adapter_sha256": {str(p.relative_to(path)): sha256_file(p) for p in files}}
    if not path.is_file():
        raise MotionAdapterLayoutError(path, "motion adapter not found")
    if path.suffix != ".safetensors":
        raise MotionAdapterLayoutError(path, f"a single-file motion adapter must be .safetensors, got {path.name}")
    from safetensors.torch import load_file

    config = dict(spec.motion_adapter_config or {})
    single: Any = MotionAdapter(**config)
    try:
        single.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as error:
        raise MotionAdapterLayoutError(path, f"the file does not fit MotionAdapter({config or ''}) "
                                       f"(motion_adapter_config): {str(error)[:400]}") from None
    return single.to(dtype), {"motion_adapter": str(path), "motion_adapter_format": "single_file",
                               "motion_adapter_config": config, "motion_adapter_sha256": sha256_file(path)}


def _load_animatediff(spec: ExpertSpec, dtype: torch.dtype) -> LoadedExpert:
    from diffusers import AnimateDiffPipeline

    from bench.methods.vdm_memorization.video_sampling import AnimateDiffLayoutError

    root = Path(spec.model).expanduser()
    files = check_layout(root, error=AnimateDiffLayoutError)
    adapter, adapter_facts = _load_motion_adapter(spec, dtype)
    pipe = AnimateDiffPipeline.from_pretrained(str(root), motion_adapter=adapter, local_files_only=True,
                                               torch_dtype=dtype, feature_extractor=None, image_encoder=None,
                                               low_cpu_mem_usage=_low_memory())
    scheduler, overrides = _scheduler_from(pipe.scheduler.config, spec)
    facts = {"format": "diffusers_pipeline", "folder": str(root), "class_name": "AnimateDiffPipeline",
             "unet_class": type(pipe.unet).__name__, "folder_scheduler_class": type(pipe.scheduler).__name__,
             "sha256": {str(p.relative_to(root)): sha256_file(p) for paths in files.values() for p in paths},
             **adapter_facts, **_scheduler_facts(scheduler, overrides)}
    return LoadedExpert(spec, pipe.unet.eval(), scheduler, pipe.text_encoder.eval(), pipe.tokenizer, pipe.vae.eval(),
                        facts)


def _load_stable_diffusion(spec: ExpertSpec, dtype: torch.dtype) -> LoadedExpert:
    from bench.methods.diffusion.stable_diffusion import is_pixel_space, load_stable_diffusion

    root = Path(spec.model).expanduser()
    if not root.is_dir():
        raise PipelineLayoutError(root, "folder not found")
    pixel = not (root / "vae").exists() and (root / "unet").is_dir()
    if pixel and (not (root / "model_index.json").is_file() or is_pixel_space(root)):
        raise ValueError(f"{root} has no vae (a pixel-space folder): use kind 'pixel_image' for it")
    pipe, facts = load_stable_diffusion(root, dtype)
    scheduler, overrides = _scheduler_from(pipe.scheduler.config, spec)
    facts = {**facts, "folder_scheduler_class": facts["scheduler_class"], **_scheduler_facts(scheduler, overrides)}
    return LoadedExpert(spec, pipe.unet.eval(), scheduler, pipe.text_encoder.eval(), pipe.tokenizer, pipe.vae.eval(),
                        facts)


def _load_text_to_video(spec: ExpertSpec, dtype: torch.dtype) -> LoadedExpert:
    from bench.methods.vdm_memorization.video_sampling import load_text_to_video

    name, overrides = DEFAULT_SCHEDULER[spec.kind]
    model = load_text_to_video(spec.model, dtype=dtype, scheduler=spec.scheduler or name,
                               scheduler_overrides=dict(overrides if spec.scheduler_overrides is None
                                                        else spec.scheduler_overrides))
    pixel = model.vae is None
    if pixel != (spec.kind == "pixel_video"):
        raise ValueError(f"{spec.model} is a {'pixel-space' if pixel else 'latent (VAE)'} TextToVideoSDPipeline "
                         f"folder: use kind {'pixel_video' if pixel else 'text_to_video'} for it, not {spec.kind!r}")
    return LoadedExpert(spec, model.unet, model.scheduler, model.text_encoder, model.tokenizer, model.vae,
                        dict(model.facts))


def _load_pixel_image(spec: ExpertSpec, dtype: torch.dtype) -> LoadedExpert:
    root = Path(spec.model).expanduser()
    if not root.is_dir():
        raise PixelImageLayoutError(root, "folder not found")
    unet_dir, scheduler_file = root / "unet", root / "scheduler" / "scheduler_config.json"
    if not (unet_dir / "config.json").is_file():
        raise PixelImageLayoutError(unet_dir / "config.json", "no unet/config.json")
    if not scheduler_file.is_file():
        raise PixelImageLayoutError(scheduler_file, "no scheduler/scheduler_config.json")
    if (root / "vae").exists():
        raise ValueError(f"{root} has a vae/ folder (a latent model): use kind 'stable_diffusion' for it")
    unet_class = json.loads((unet_dir / "config.json").read_text(encoding="utf-8")).get("_class_name")
    files = [unet_dir / "config.json", *weight_files(unet_dir, "unet", PixelImageLayoutError), scheduler_file]
    text_encoder = tokenizer = None
    import diffusers

    unet_cls: Any = getattr(diffusers, str(unet_class)) if unet_class in ("UNet2DModel", "UNet2DConditionModel") \
        else None
    if unet_class == "UNet2DConditionModel":
        from transformers import CLIPTextModel, CLIPTokenizer

        for part, names in (("text_encoder", ("config.json",)), ("tokenizer", ("tokenizer.json", "vocab.json"))):
            if not any((root / part / n).is_file() for n in names):
                raise PixelImageLayoutError(root / part, f"a UNet2DConditionModel needs {part}/ ({' or '.join(names)})")
        files += [root / "text_encoder" / "config.json", *weight_files(root / "text_encoder", "text_encoder",
                                                                        PixelImageLayoutError)]
        text_encoder = CLIPTextModel.from_pretrained(str(root / "text_encoder"), local_files_only=True,
                                                     torch_dtype=dtype).eval()
        tokenizer = CLIPTokenizer.from_pretrained(str(root / "tokenizer"), local_files_only=True)
    elif unet_cls is None:
        raise ValueError(f"{unet_dir / 'config.json'} describes a {unet_class!r}: kind 'pixel_image' reads a "
                         "UNet2DModel or a UNet2DConditionModel")
    unet = unet_cls.from_pretrained(str(unet_dir), local_files_only=True, torch_dtype=dtype,
                                    low_cpu_mem_usage=_low_memory()).eval()
    scheduler, overrides = _scheduler_from(json.loads(scheduler_file.read_text(encoding="utf-8")), spec)
    facts = {"format": "diffusers_pixel_space", "folder": str(root), "unet_class": unet_class,
             "sha256": {str(p.relative_to(root)): sha256_file(p) for p in files},
             **_scheduler_facts(scheduler, overrides)}
    return LoadedExpert(spec, unet, scheduler, text_encoder, tokenizer, None, facts)


_LOADERS = {"animatediff": _load_animatediff, "stable_diffusion": _load_stable_diffusion,
            "text_to_video": _load_text_to_video, "pixel_video": _load_text_to_video, "pixel_image": _load_pixel_image}


def load_expert(spec: Mapping[str, Any] | ExpertSpec, device: torch.device | str = "cpu",
                dtype: torch.dtype = torch.float32, role: str = "expert") -> LoadedExpert:
    """An expert of ``spec``'s kind from local files (module docstring), on ``device`` in eval mode with gradients
    off, and its provenance facts (folder, sha256 of every file read, scheduler, guidance, dtype, native size)."""
    spec = ExpertSpec.from_config(spec, role)
    expert = _LOADERS[spec.kind](spec, dtype).to(device)
    for module in (expert.unet, expert.text_encoder, expert.vae):
        if module is not None:
            module.requires_grad_(False)
    expert.facts.update({"kind": spec.kind, "layout": spec.layout, "conditional": expert.conditional,
                         "guidance_scale": expert.guidance_scale, "cfg_batch": expert.guided,
                         "dtype": str(dtype).removeprefix("torch."), "latent_channels": expert.latent_channels,
                         "native_latent_size": list(expert.native_size), "pixels_per_latent": expert.codec().scale})
    return expert
