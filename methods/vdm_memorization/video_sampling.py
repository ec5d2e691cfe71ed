"""Text-to-video sampling for the video-memorization re-implementation: local diffusers folders (ModelScope /
zeroscope ``TextToVideoSDPipeline``, AnimateDiff = Stable Diffusion 1.5 + ``MotionAdapter``) and a DDIM + CFG loop
that records, per video and step, a content magnitude and a motion magnitude.

Re-implementation: the paper (arXiv 2410.21669) has no code and gives no formulas for its detection signals. Here
(the sheet's proposal, not the paper's definition):

- content magnitude ‖ε_c − ε_u‖₂ over the whole video latent (C, F, h, w): Wen et al.'s text-conditional noise
  magnitude (:func:`bench.methods.bright_ending.magnitude.text_noise_norm`) on the video UNet;
- motion magnitude ‖Δ_f(ε_c − ε_u)‖₂, the norm of the difference of the text-conditional residual between consecutive
  frames (:func:`motion_magnitude`): a guess at what the paper calls "motion magnitude".

The loop is the Bright Ending loop (:mod:`bench.methods.bright_ending.sampling`) on 5-D latents [B, C, F, h, w] and
follows diffusers' ``TextToVideoSDPipeline.__call__`` / ``AnimateDiffPipeline.__call__``: the UNet runs on the CFG
batch [unconditional, conditional], ε = ε_u + s (ε_c − ε_u); ModelScope's pipeline steps the scheduler on frames
reshaped to [B·F, C, h, w], AnimateDiff's on the 5-D latents, and AnimateDiff's ``UNetMotionModel`` takes the text
embeddings repeated per frame (both mirrored). Deliberate differences: latents are drawn per prompt from a CPU
generator seeded ``seed`` (the adapter passes ``gen_seed + row``) in float32 and cast, so a video does not depend on
the device or on the other prompts of a batch (also DDIM's η > 0 noise, drawn per prompt); norms in float32; the
guidance is always computed on the doubled batch (the magnitudes need ε_u).
"""
from __future__ import annotations

import importlib.util
import inspect
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.io import sha256_file
from bench.methods.bright_ending.magnitude import text_noise_norm
from bench.methods.bright_ending.sampling import to_uint8
from bench.methods.diffusion.stable_diffusion import (DIFFUSERS_WEIGHTS, PipelineLayoutError, TextToImageModel,
                                                      check_layout, is_pixel_space, weight_files)
from bench.methods.diffusion.video_latents import frames_to_video, video_to_frames

TEXT_TO_VIDEO = "TextToVideoSDPipeline"
FRAMES_AS_CHANNELS_CLASS = "UNet2DConditionModel"  # a pixel-space folder's 2-D UNet: frames as channels
ANIMATEDIFF = "AnimateDiffPipeline"
# diffusers' __call__ defaults (0.42): 16 frames for both; guidance 9.0 (TextToVideoSD) and 7.5 (AnimateDiff).
DEFAULT_FRAMES = 16
DEFAULT_GUIDANCE = {TEXT_TO_VIDEO: 9.0, ANIMATEDIFF: 7.5}
# Diffusers folders store no frame rate. 8 fps is the rate TextToVideoSDPipeline's docstring assumes ("16 frames
# which at 8 frames per seconds amounts to 2 seconds") and AnimateDiff's examples export at; a knob, recorded.
DEFAULT_FPS = 8.0
# The scheduler of diffusers' AnimateDiff example (DDIM with these overrides of the SD 1.5 scheduler config); the
# SD 1.5 folder ships PNDM, whose first step calls the UNet twice.
ANIMATEDIFF_SCHEDULER_OVERRIDES: Mapping[str, Any] = {"clip_sample": False, "timestep_spacing": "linspace",
                                                      "beta_schedule": "linear", "steps_offset": 1}

TEXT_TO_VIDEO_LAYOUT = """
<folder>/model_index.json                       (_class_name: TextToVideoSDPipeline)
<folder>/unet/config.json + diffusion_pytorch_model.safetensors   (UNet3DConditionModel; or .bin)
<folder>/vae/config.json + diffusion_pytorch_model.safetensors    (AutoencoderKL; or .bin)
<folder>/text_encoder/config.json + model.safetensors             (CLIPTextModel; or pytorch_model.bin)
<folder>/tokenizer/tokenizer.json, or vocab.json + merges.txt
<folder>/scheduler/scheduler_config.json
(a pixel-space folder, e.g. the demo's toy model, has no vae: model_index.json without "vae"; its unet may be
 a UNet2DConditionModel with one channel per frame, the quick demo's frames-as-channels toy)
"""
TEXT_TO_VIDEO_FIX = ("on a machine with internet run `huggingface-cli download <repo> --local-dir <folder>` "
                     "(`hf download` in newer huggingface_hub) with <repo> = damo-vilab/text-to-video-ms-1.7b "
                     "(ModelScope T2V, now also ali-vilab/text-to-video-ms-1.7b) or cerspense/zeroscope_v2_576w, "
                     "copy <folder> here and pass its path (the full-precision weights; fp16 variant files alone "
                     "are not read)")
ANIMATEDIFF_LAYOUT = """
<sd_folder>/model_index.json                    (_class_name: StableDiffusionPipeline, SD 1.5)
<sd_folder>/unet, vae, text_encoder, tokenizer, scheduler (diffusers' Stable Diffusion layout)
<adapter_folder>/config.json + diffusion_pytorch_model.safetensors   (MotionAdapter; or .bin)
"""
ANIMATEDIFF_FIX = ("on a machine with internet run `huggingface-cli download stable-diffusion-v1-5/"
                   "stable-diffusion-v1-5 --local-dir <sd_folder>` and `huggingface-cli download "
                   "guoyww/animatediff-motion-adapter-v1-5-2 --local-dir <adapter_folder>`, copy both here and pass "
                   "their paths (model=<sd_folder>, motion_adapter=<adapter_folder>)")


class TextToVideoLayoutError(PipelineLayoutError):
    """A ``TextToVideoSDPipeline`` folder is missing or incomplete."""

    TITLE, LAYOUT, FIX = "text-to-video pipeline (TextToVideoSDPipeline)", TEXT_TO_VIDEO_LAYOUT, TEXT_TO_VIDEO_FIX


class AnimateDiffLayoutError(PipelineLayoutError):
    """An AnimateDiff Stable Diffusion folder or motion adapter folder is missing or incomplete."""

    TITLE, LAYOUT, FIX = "AnimateDiff (Stable Diffusion 1.5 + MotionAdapter)", ANIMATEDIFF_LAYOUT, ANIMATEDIFF_FIX


@dataclass
class TextToVideoModel(TextToImageModel):
    """A text-to-video model's components: ``unet`` a ``UNet3DConditionModel`` (``pipeline_class``
    TextToVideoSDPipeline) or a ``UNetMotionModel`` (AnimateDiffPipeline); ``vae`` decodes frame by frame (None:
    pixel space, the samples in [-1, 1] are the frames, as the demo's toy model)."""

    pipeline_class: str = TEXT_TO_VIDEO


@dataclass(frozen=True)
class VideoSamplingSettings:
    """Generation knobs; None takes the pipeline's diffusers default (recorded in :func:`video_facts`).

    Args:
        num_inference_steps: DDIM steps (one UNet call each).
        guidance_scale: CFG scale s; None: 9.0 (TextToVideoSD) or 7.5 (AnimateDiff), diffusers' defaults.
        num_frames: frames F per video (≥ 2: the motion magnitude needs two); None: 16.
        height, width: frame size in pixels (multiples of the VAE factor); None: UNet sample size × VAE factor
            (256 for ModelScope, 512 for SD 1.5; zeroscope_v2_576w is meant for 576×320: set them).
        eta: DDIM's η (0: deterministic DDIM, the official choice); η > 0 noise is drawn per prompt.
        decode_chunk_size: frames per VAE decode call; frames are decoded independently (a 2-D VAE), so this
            changes memory only (AnimateDiff's default 16).
        fps: the frame rate recorded with the video (diffusers folders store none); None: 8.
    """

    num_inference_steps: int = 50
    guidance_scale: float | None = None
    num_frames: int | None = None
    height: int | None = None
    width: int | None = None
    eta: float = 0.0
    decode_chunk_size: int = 16
    fps: float | None = None

    def __post_init__(self) -> None:
        for name in ("num_inference_steps", "decode_chunk_size", "num_frames"):
            value = getattr(self, name)
            if value is None and name == "num_frames":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"VideoSamplingSettings: {name} must be a positive int, got {value!r}")
        if self.num_frames is not None and self.num_frames < 2:
            raise ValueError(f"VideoSamplingSettings: num_frames must be at least 2 (the motion magnitude compares "
                             f"consecutive frames), got {self.num_frames}")
        if self.eta < 0 or (self.fps is not None and self.fps <= 0):
            raise ValueError(f"VideoSamplingSettings: need eta >= 0 and fps > 0, got eta={self.eta}, fps={self.fps}")


@dataclass
class VideoGeneration:
    """Videos of one batch of prompts, rows ordered by prompt then video: uint8 frames (rows, F, H, W, 3) and per
    step tracks (rows, steps) in float32: ``content_magnitude`` ‖ε_c − ε_u‖₂, ``motion_magnitude``
    ‖Δ_f(ε_c − ε_u)‖₂, ``uncond_noise_norm`` ‖ε_u‖₂; the final latents (rows, C, F, h, w) in float32 on the CPU;
    ``video`` the frame count, size and fps."""

    frames: torch.Tensor
    content_magnitude: torch.Tensor
    motion_magnitude: torch.Tensor
    uncond_noise_norm: torch.Tensor
    latents: torch.Tensor
    video: dict[str, Any] = field(default_factory=dict)


def motion_magnitude(text: torch.Tensor) -> torch.Tensor:
    """‖Δ_f d‖₂ per video for the text-conditional residual d = ε_c − ε_u of shape (n, C, F, h, w), with
    Δ_f d = d[:, :, 1:] − d[:, :, :-1] (consecutive frames); output (n,) float32. Zero for a residual constant
    across frames. A guess at the paper's "motion magnitude" (the sheet's proposal), not its formula."""
    if text.ndim != 5 or text.shape[2] < 2:
        raise ValueError(f"motion_magnitude: expected a residual (n, C, F, h, w) with F >= 2 frames, got "
                         f"{tuple(text.shape)}")
    text = text.float()
    return (text[:, :, 1:] - text[:, :, :-1]).flatten(1).norm(dim=1)


def _pipeline_class(root: Path, error: type[PipelineLayoutError]) -> str:
    index = root / "model_index.json"
    if not root.is_dir():
        raise error(root, "folder not found")
    if not index.is_file():
        raise error(index, "no model_index.json (not a diffusers pipeline folder)")
    return str(json.loads(index.read_text(encoding="utf-8")).get("_class_name"))


def _scheduler(folder_scheduler: Any, scheduler: str | None, overrides: Mapping[str, Any]) -> Any:
    """``scheduler`` (a diffusers class name; None keeps the folder's class) built from the folder's scheduler
    config with ``overrides``."""
    from bench.registry import SCHEDULERS

    name = scheduler or type(folder_scheduler).__name__
    try:
        cls = SCHEDULERS.get(name)
    except KeyError as error:
        raise ValueError(f"unknown diffusers scheduler {name!r} (e.g. DDIMScheduler): {error}") from None
    return cls.from_config({**dict(folder_scheduler.config), **dict(overrides)})


def _load_pixel_space(root: Path, dtype: torch.dtype, low_memory: bool) -> tuple[Any, dict[str, list[Path]]]:
    """The components of a ``TextToVideoSDPipeline`` folder without ``vae`` (each from its subfolder, local files
    only) as a namespace with ``unet``, ``text_encoder``, ``tokenizer``, ``scheduler`` and ``vae`` None, and the
    files to hash. diffusers' pipeline loader needs a VAE, hence one component at a time."""
    from types import SimpleNamespace

    from diffusers import UNet3DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    from bench.registry import SCHEDULERS

    files = check_layout(root, pixel_space=True, class_name=TEXT_TO_VIDEO, error=TextToVideoLayoutError)
    declared = json.loads((root / "model_index.json").read_text(encoding="utf-8"))
    entry = declared.get("scheduler")
    name = entry[1] if isinstance(entry, list) and len(entry) == 2 else "DDIMScheduler"
    try:
        cls = SCHEDULERS.get(name)
    except KeyError as error:
        raise ValueError(f"{root / 'model_index.json'}: unknown scheduler class {name!r} (e.g. DDIMScheduler): "
                         f"{error}") from None
    unet_entry = declared.get("unet")
    unet_class = unet_entry[1] if isinstance(unet_entry, list) and len(unet_entry) == 2 else "UNet3DConditionModel"
    if unet_class == FRAMES_AS_CHANNELS_CLASS:  # the quick demo's toy: frames as the channels of a 2-D UNet
        from diffusers import UNet2DConditionModel

        from bench.methods.vdm_memorization.frames_as_channels import FramesAsChannelsUNet

        unet: Any = FramesAsChannelsUNet(UNet2DConditionModel.from_pretrained(
            str(root / "unet"), local_files_only=True, torch_dtype=dtype, low_cpu_mem_usage=low_memory))
    elif unet_class == "UNet3DConditionModel":
        unet = UNet3DConditionModel.from_pretrained(str(root / "unet"), local_files_only=True, torch_dtype=dtype,
                                                    low_cpu_mem_usage=low_memory)
    else:
        raise ValueError(f"{root / 'model_index.json'}: unet {unet_class!r} is not a video UNet this loader reads "
                         f"(UNet3DConditionModel, or {FRAMES_AS_CHANNELS_CLASS} with one channel per frame)")
    parts = SimpleNamespace(
        unet=unet,
        text_encoder=CLIPTextModel.from_pretrained(str(root / "text_encoder"), local_files_only=True,
                                                   torch_dtype=dtype),
        tokenizer=CLIPTokenizer.from_pretrained(str(root / "tokenizer"), local_files_only=True),
        scheduler=cls.from_pretrained(str(root / "scheduler"), local_files_only=True), vae=None)
    return parts, files


def load_text_to_video(folder: str | Path, motion_adapter: str | Path | None = None,
                       dtype: torch.dtype = torch.float32, scheduler: str | None = "DDIMScheduler",
                       scheduler_overrides: Mapping[str, Any] | None = None) -> TextToVideoModel:
    """The components of a local ``TextToVideoSDPipeline`` folder, or of AnimateDiff (``folder`` a Stable Diffusion
    1.5 folder and ``motion_adapter`` a ``MotionAdapter`` folder; the UNet becomes ``UNetMotionModel``), local files
    only, eval mode, with provenance facts (sha256 of model_index.json, weights, tokenizer files and the adapter).

    ``scheduler`` replaces the folder's scheduler class (None keeps it), built from the folder's config updated by
    ``scheduler_overrides`` (default: none for TextToVideoSD, :data:`ANIMATEDIFF_SCHEDULER_OVERRIDES` for
    AnimateDiff). A missing component raises a :class:`PipelineLayoutError` naming the folder, the layout and the
    repository to download."""
    root = Path(folder).expanduser()
    low_memory = importlib.util.find_spec("accelerate") is not None  # without accelerate diffusers warns
    if motion_adapter is None:
        declared = _pipeline_class(root, TextToVideoLayoutError)
        if declared == "StableDiffusionPipeline":
            raise ValueError(f"{root} is a Stable Diffusion folder: for AnimateDiff also pass motion_adapter=<a "
                             "MotionAdapter folder> (e.g. guoyww/animatediff-motion-adapter-v1-5-2)")
        if is_pixel_space(root):
            pipe, files = _load_pixel_space(root, dtype, low_memory)
        else:
            files = check_layout(root, class_name=TEXT_TO_VIDEO, error=TextToVideoLayoutError)
            from diffusers import TextToVideoSDPipeline

            pipe = TextToVideoSDPipeline.from_pretrained(str(root), local_files_only=True, torch_dtype=dtype,
                                                         low_cpu_mem_usage=low_memory)
            pipe.set_progress_bar_config(disable=True)
        pipeline_class, adapter_facts = TEXT_TO_VIDEO, {}
        overrides = scheduler_overrides or {}
    else:
        adapter_root = Path(motion_adapter).expanduser()
        files = check_layout(root, error=AnimateDiffLayoutError)
        if not adapter_root.is_dir():
            raise AnimateDiffLayoutError(adapter_root, "motion adapter folder not found")
        if not (adapter_root / "config.json").is_file():
            raise AnimateDiffLayoutError(adapter_root / "config.json", "motion_adapter: no config.json")
        adapter_files = weight_files(adapter_root, "motion_adapter", AnimateDiffLayoutError, DIFFUSERS_WEIGHTS)
        from diffusers import AnimateDiffPipeline, MotionAdapter

        adapter = MotionAdapter.from_pretrained(str(adapter_root), local_files_only=True, torch_dtype=dtype)
        pipe = AnimateDiffPipeline.from_pretrained(str(root), motion_adapter=adapter, local_files_only=True,
                                                   torch_dtype=dtype, feature_extractor=None, image_encoder=None,
                                                   low_cpu_mem_usage=low_memory)
        pipeline_class = ANIMATEDIFF
        adapter_facts = {"motion_adapter": str(adapter_root),
                         "motion_adapter_sha256": {str(p.relative_to(adapter_root)): sha256_file(p)
                                                   for p in [adapter_root / "config.json", *adapter_files]}}
        overrides = ANIMATEDIFF_SCHEDULER_OVERRIDES if scheduler_overrides is None else scheduler_overrides
        pipe.set_progress_bar_config(disable=True)
    folder_scheduler = type(pipe.scheduler).__name__
    pipe.scheduler = _scheduler(pipe.scheduler, scheduler, overrides)
    model = TextToVideoModel(pipe.unet.eval(), pipe.text_encoder.eval(), pipe.tokenizer, pipe.scheduler,
                             None if pipe.vae is None else pipe.vae.eval(), pipeline_class=pipeline_class)
    defaults = video_facts(model, VideoSamplingSettings())
    model.facts = {
        "format": "diffusers_pixel_space" if model.vae is None else "diffusers_pipeline", "folder": str(root),
        "class_name": pipeline_class,
        "unet_class": type(pipe.unet).__name__,
        "sha256": {str(p.relative_to(root)): sha256_file(p) for paths in files.values() for p in paths},
        **adapter_facts,
        "scheduler_class": type(pipe.scheduler).__name__, "folder_scheduler_class": folder_scheduler,
        "scheduler_overrides": dict(overrides),
        "scheduler_config": {k: list(v) if isinstance(v, tuple) else v for k, v in dict(pipe.scheduler.config).items()},
        "dtype": str(dtype).removeprefix("torch."), "vae_scale_factor": model.latent_scale,
        "unet_sample_size": pipe.unet.config.sample_size,
        "defaults": {k: defaults[k] for k in ("num_frames", "height", "width", "fps", "guidance_scale")},
        "label": "re-implementation; thresholds not from the paper",
    }
    return model


def video_facts(model: TextToVideoModel, settings: VideoSamplingSettings) -> dict[str, Any]:
    """The frame count, frame size, fps and guidance scale ``settings`` give on ``model`` (defaults filled in)."""
    size = model.unet.config.sample_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    scale = model.latent_scale
    height, width = settings.height or size[0] * scale, settings.width or size[1] * scale
    if height % scale or width % scale:
        raise ValueError(f"height and width must be multiples of the VAE factor {scale}, got {height}x{width}")
    frames = settings.num_frames or getattr(model.unet.config, "frames", None) or DEFAULT_FRAMES  # fixed: 2-D
    return {"num_frames": frames, "height": height, "width": width,
            "fps": settings.fps or DEFAULT_FPS,
            "guidance_scale": DEFAULT_GUIDANCE[model.pipeline_class] if settings.guidance_scale is None
            else float(settings.guidance_scale),
            "num_inference_steps": settings.num_inference_steps, "eta": settings.eta}


@torch.no_grad()
def generate_videos(model: TextToVideoModel, cond: torch.Tensor, uncond: torch.Tensor, seeds: Sequence[int], n: int,
                    settings: VideoSamplingSettings) -> VideoGeneration:
    """``n`` videos for each of P prompts (conditional embeddings ``cond`` (P, L, d), one seed per prompt in
    ``seeds``; ``uncond`` the empty prompt's, (1, L, d)), the rows ordered prompt by prompt.

    Prompt p's latents (n, C, F, h, w) are drawn in float32 by a CPU generator seeded ``seeds[p]`` (then η > 0
    noise from the same generator), so its videos equal those of a batch holding it alone. Returns uint8 frames
    (P·n, F, H, W, 3), the per-step tracks (P·n, steps) and the final latents."""
    unet, scheduler = model.unet, model.scheduler
    device, dtype = unet.device, unet.dtype
    video = video_facts(model, settings)
    prompts, frames = len(seeds), video["num_frames"]
    if cond.shape[0] != prompts or uncond.shape[0] != 1 or n < 1:
        raise ValueError(f"generate_videos: need one conditional embedding per seed ({len(seeds)} seeds, got "
                         f"{cond.shape[0]}), one unconditional embedding (got {uncond.shape[0]}) and n >= 1 (got {n})")
    scale = model.latent_scale
    shape = (n, unet.config.in_channels, frames, video["height"] // scale, video["width"] // scale)
    generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
    latents = torch.cat([torch.randn(shape, generator=g, dtype=torch.float32) for g in generators])
    latents = latents.to(device, dtype)
    scheduler.set_timesteps(settings.num_inference_steps, device=device)
    timesteps = scheduler.timesteps
    if len(timesteps) != settings.num_inference_steps:
        raise ValueError(f"{type(scheduler).__name__} calls the UNet {len(timesteps)} times for "
                         f"{settings.num_inference_steps} steps; the per-step tracks need one call per step (use "
                         "DDIMScheduler)")
    step_parameters = inspect.signature(scheduler.step).parameters
    if settings.eta > 0 and "variance_noise" not in step_parameters:
        raise ValueError(f"eta={settings.eta} needs a scheduler that takes variance_noise (DDIMScheduler), got "
                         f"{type(scheduler).__name__}")
    step_kwargs = {"eta": settings.eta} if "eta" in step_parameters else {}
    latents = latents * scheduler.init_noise_sigma
    batch = prompts * n
    cond = cond.to(device, dtype).repeat_interleave(n, dim=0)
    text_batch = torch.cat([uncond.to(device, dtype).expand(batch, -1, -1), cond])
    per_frame = model.pipeline_class == ANIMATEDIFF
    if per_frame:  # UNetMotionModel takes one text embedding per frame (AnimateDiffPipeline repeats them)
        text_batch = text_batch.repeat_interleave(frames, dim=0)
    guidance = video["guidance_scale"]
    content, motion, uncond_norms = [], [], []
    for t in timesteps:
        model_input = scheduler.scale_model_input(torch.cat([latents] * 2), t)
        eps = unet(model_input, t, encoder_hidden_states=text_batch, return_dict=False)[0]
        eps_u, eps_c = eps.chunk(2)
        text = eps_c - eps_u
        content.append(text_noise_norm(eps_c, eps_u))
        motion.append(motion_magnitude(text))
        uncond_norms.append(eps_u.float().flatten(1).norm(dim=1))
        noise_pred = eps_u + guidance * text
        kwargs: dict[str, Any] = dict(step_kwargs)
        if settings.eta > 0:  # per prompt, in the layout the scheduler steps on
            noise = torch.cat([torch.randn(shape, generator=g, dtype=torch.float32) for g in generators])
            kwargs["variance_noise"] = (noise if per_frame else video_to_frames(noise)).to(device, dtype)
        if per_frame:
            latents = scheduler.step(noise_pred, t, latents, **kwargs, return_dict=False)[0]
        else:  # TextToVideoSDPipeline steps on frames [B·F, C, h, w]
            stepped = scheduler.step(video_to_frames(noise_pred), t, video_to_frames(latents), **kwargs,
                                     return_dict=False)[0]
            latents = frames_to_video(stepped, batch)
    return VideoGeneration(frames=decode_videos(model, latents, settings.decode_chunk_size),
                           content_magnitude=torch.stack(content, 1).cpu(),
                           motion_magnitude=torch.stack(motion, 1).cpu(),
                           uncond_noise_norm=torch.stack(uncond_norms, 1).cpu(), latents=latents.float().cpu(),
                           video=video)


@torch.no_grad()
def decode_videos(model: TextToVideoModel, latents: torch.Tensor, chunk_size: int = 16) -> torch.Tensor:
    """uint8 frames (B, F, H, W, 3) from latents (B, C, F, h, w): each frame through the VAE
    (``latents / scaling_factor``), ``chunk_size`` frames per call, as diffusers' ``decode_latents``; in pixel space
    (``model.vae`` None) the samples in [-1, 1] are the frames (one channel repeated to three)."""
    vae = model.vae
    batch, frames = latents.shape[0], latents.shape[2]
    if vae is None:
        pixels = to_uint8(video_to_frames(latents)).cpu()
        return pixels.reshape(batch, frames, *pixels.shape[1:])
    flat = video_to_frames(latents.to(vae.dtype) / vae.config.scaling_factor)
    pixels = torch.cat([to_uint8(vae.decode(flat[i:i + chunk_size], return_dict=False)[0]).cpu()
                        for i in range(0, flat.shape[0], chunk_size)])
    return pixels.reshape(batch, frames, *pixels.shape[1:])
