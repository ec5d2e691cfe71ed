"""``ConFiner``: the whole chain as a method adapter of the ``video_generation`` task (prompts in, videos out).

Per batch of prompts (ConFiner, arXiv 2408.13423 v4, §3 and Algorithm 1; choices the paper leaves open are named
options, documented on ``configs/confiner/README.md``):

1. control stage: the control expert (AnimateDiff-Lightning) samples ``control_steps`` (T_i1) steps of its own
   scheduler from Gaussian noise → the structure V0 (:meth:`LoadedExpert.sample`);
2. V0 is re-noised to ``t_e`` and refined in ``refine_steps`` (T_i2) steps, ``mode`` ``"spatial"`` / ``"temporal"``
   / ``"coordinated"`` (:func:`bench.methods.confiner.schedules.refine`);
3. the final latent is decoded by one codec (the spatial expert's SD-1.x VAE; identity for pixel kinds).

``single=<role>`` with ``steps=N`` is a single-expert baseline instead: that expert alone samples N steps of its
own scheduler and decodes with its own VAE. ``long=dict(...)`` is ConFiner-Long (:mod:`bench.methods.confiner.long`):
segments from frame-shuffles of one base noise, coherence guidance on the control expert's ε across segments, and
staggered refinement of half-segment joins; the video then has ``num_segments × segment_length`` frames.

Seeds: video i's noise (the control stage's initial noise, the T_e re-noising, the coordinated steps' fresh noise,
ConFiner-Long's base noise and shuffles) comes from one CPU generator seeded with the runner's per-sample seed, drawn
in float32 then moved, so a video depends on its seed and the weights only, never on its batch or the device's RNG.

Outputs per video: ``video`` uint8 [F, H, W, 3], ``nfe`` (UNet evaluations, CFG-doubled ones counted twice) and
``wall_s`` (its batch's wall time over the batch size). The run's facts (``provenance``) hold the NFE breakdown
per expert, seconds per stage and every expert's folder facts. LaVie is not a kind: it is not in diffusers.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import torch

from bench.method import Method
from bench.precision import dtype_of
from bench.registry import METHODS
from bench.store import Columns

ROLES = ("control", "spatial", "temporal")
LABEL = "re-implementation of the v4 text (no official code); unspecified settings are named options"


def _pair(size: Any, what: str) -> tuple[int, int] | None:
    if size is None:
        return None
    pair = (int(size), int(size)) if isinstance(size, int) else tuple(int(v) for v in size)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"ConFiner: {what} must be an int or (height, width) of positive ints, got {size!r}")
    return pair[0], pair[1]


@METHODS.register_module()
class ConFiner(Method):
    """ConFiner / ConFiner-Long or a single-expert baseline over local diffusers folders (module docstring).

    Args:
        experts: ``dict(control=<spec>, spatial=<spec>, temporal=<spec>)``, each an
            :class:`~bench.methods.confiner.experts.ExpertSpec` dict (``kind``, ``model``, ...); a baseline needs
            only its ``single`` role.
        mode: ``"spatial"`` / ``"temporal"`` / ``"coordinated"`` refinement (None: ``"coordinated"``, Option 2).
        single: a role whose expert alone generates (the baselines of Table 1); needs ``steps``, excludes ``mode``.
        steps: the baseline's sampling steps (10 / 20 / 50 / 100 in Table 1).
        control_steps: T_i1 (4 or 8).
        t_e: T_e, the re-noising timestep (100 of 1000; Table 3: 50–500).
        refine_steps: T_i2 (5 with 4 control steps, 10 with 8).
        resize: ``"shared"`` (every expert at the working latent size) or ``"native"`` (each at its UNet's
            ``sample_size``, x̂0 resized at the hinge) — :mod:`bench.methods.confiner.layouts`.
        noise: ε of the coordinated re-noisings, ``"fresh"`` (paper) or ``"predicted"``.
        frames: frames per video (per segment under ``long``); 16, the experts' native clip length.
        size: frame size in pixels, an int or (H, W); None: the control expert's native size (the baseline's
            expert's for ``single``): 512² for AnimateDiff on SD 1.5, 256² for ModelScope.
        long: ConFiner-Long's :class:`~bench.methods.confiner.long.LongSettings` (``segment_length`` defaults to
            ``frames``); None: one clip.
        codec: the role whose VAE decodes the chain's latent (``"spatial"``: SD 1.5's, shared by all SD-1.x experts).
        dtype: the experts' dtype, ``"auto"`` (fp16 on CUDA, fp32 on CPU) or a precision name.
        decode_chunk_size: frames per VAE decode call (memory only).
    """

    eval_only_params = ("experts", "mode", "single", "steps", "control_steps", "t_e", "refine_steps", "resize",
                        "noise", "frames", "size", "long", "codec", "dtype", "decode_chunk_size")

    def __init__(self, experts: dict[str, dict[str, Any]], mode: str | None = None, single: str | None = None,
                 steps: int | None = None, control_steps: int = 4, t_e: int = 100, refine_steps: int = 5,
                 resize: str = "shared", noise: str = "fresh", frames: int = 16, size: Any = None,
                 long: dict[str, Any] | None = None, codec: str = "spatial", dtype: str = "auto",
                 decode_chunk_size: int = 16, smoke_reason: str | None = None) -> None:
        from bench.methods.confiner.experts import ExpertSpec
        from bench.methods.confiner.layouts import RESIZE_POLICIES
        from bench.methods.confiner.long import LongSettings
        from bench.methods.confiner.schedules import RefinementSettings

        if not isinstance(experts, dict) or set(experts) - set(ROLES):
            raise ValueError(f"ConFiner: experts must be a dict with keys among {ROLES}, got "
                             f"{sorted(experts) if isinstance(experts, dict) else experts!r}")
        if single is not None:
            if single not in ROLES or mode is not None or steps is None or int(steps) < 1 or long is not None:
                raise ValueError(f"ConFiner: a single-expert baseline takes single=<one of {ROLES}> and steps >= 1, "
                                 f"and no mode or long; got single={single!r}, steps={steps!r}, mode={mode!r}, "
                                 f"long={long!r}")
            needed: tuple[str, ...] = (single,)
        else:
            if steps is not None:
                raise ValueError("ConFiner: steps is the single-expert baseline's; ConFiner takes control_steps and "
                                 "refine_steps")
            needed = ROLES
        missing = [role for role in needed if role not in experts]
        if missing:
            raise ValueError(f"ConFiner: experts.{missing[0]} is missing (this mode needs {list(needed)})")
        self.specs = {role: ExpertSpec.from_config(spec, role) for role, spec in experts.items() if role in needed}
        self.single, self.steps = single, None if steps is None else int(steps)
        self.refinement = RefinementSettings(mode=mode or "coordinated", t_e=int(t_e), steps=int(refine_steps),
                                             noise=noise)
        if int(control_steps) < 1:
            raise ValueError(f"ConFiner: control_steps must be >= 1, got {control_steps}")
        self.control_steps = int(control_steps)
        if resize not in RESIZE_POLICIES:
            raise ValueError(f"ConFiner: resize must be one of {RESIZE_POLICIES}, got {resize!r}")
        if int(frames) < 1:
            raise ValueError(f"ConFiner: frames must be >= 1, got {frames}")
        self.resize, self.frames, self.size = resize, int(frames), _pair(size, "size")
        self.long = None if long is None else LongSettings(**{"segment_length": self.frames, **dict(long)})
        if codec not in ROLES or (single is None and codec not in self.specs):
            raise ValueError(f"ConFiner: codec must be one of {ROLES}, got {codec!r}")
        self.codec_role = single or codec
        self.dtype_name, self.decode_chunk_size = dtype, int(decode_chunk_size)
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.loaded: dict[str, Any] = {}
        self.device = torch.device("cpu")
        self.totals: dict[str, Any] = {"videos": 0, "evals": {}, "seconds": {}, "wall_s": 0.0}

    # -- setup ---------------------------------------------------------------------------------------------------
    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.confiner.experts import load_expert

        self.device = torch.device(device)
        dtype = (torch.float16 if self.device.type == "cuda" else torch.float32) if self.dtype_name == "auto" \
            else dtype_of(self.dtype_name)
        self.loaded = {role: load_expert(spec, self.device, dtype, role) for role, spec in self.specs.items()}
        channels = {role: expert.latent_channels for role, expert in self.loaded.items()}
        if len(set(channels.values())) > 1:
            raise ValueError(f"ConFiner: the experts must share one latent space; latent channels per role: {channels} "
                             "(an SD-1.x VAE latent has 4, a one-channel pixel model 1)")
        scales = {role: expert.codec().scale for role, expert in self.loaded.items()}
        if len(set(scales.values())) > 1:
            raise ValueError(f"ConFiner: the experts mix latent and pixel space (pixels per latent pixel: {scales})")

    @property
    def _lead(self) -> str:
        """The role whose native size is the default working size."""
        return self.single or "control"

    def latent_size(self) -> tuple[int, int]:
        """The working latent (h, w): ``size`` over the codec's scale, or the lead expert's native size."""
        expert = self.loaded[self._lead]
        if self.size is None:
            return expert.native_size
        scale = self.loaded[self.codec_role].codec().scale
        if self.size[0] % scale or self.size[1] % scale:
            raise ValueError(f"ConFiner: size {self.size} must be a multiple of the VAE factor {scale}")
        return self.size[0] // scale, self.size[1] // scale

    # -- generation ----------------------------------------------------------------------------------------------
    def _initial_noise(self, generators: list[torch.Generator], frames: int) -> torch.Tensor:
        h, w = self.latent_size()
        channels = self.loaded[self._lead].latent_channels
        return torch.stack([torch.randn((channels, frames, h, w), generator=g, dtype=torch.float32)
                            for g in generators]).to(self.device)

    def _chain_experts(self, texts: dict[str, Any]) -> tuple[Any, Any]:
        native = self.resize == "native"
        return tuple(self.loaded[role].expert(role, texts[role], self.loaded[role].native_size if native else None)
                     for role in ("spatial", "temporal"))

    def generate(self, prompts: list[str], seeds: list[int]) -> tuple[torch.Tensor, Any]:
        """Latents [B, C, F, h, w] (float32) of one batch and its :class:`NFEMeter`."""
        from bench.methods.confiner.schedules import NFEMeter, refine

        meter = NFEMeter()
        generators = [torch.Generator().manual_seed(int(seed)) for seed in seeds]
        texts = {role: expert.encode(prompts) for role, expert in self.loaded.items()}
        if self.single is not None:
            with meter.stage(self.single, self.device):
                noise = self._initial_noise(generators, self.frames)
                return self.loaded[self.single].sample(noise, texts[self.single], int(self.steps or 0), meter,
                                                       self.single), meter
        spatial, temporal = self._chain_experts(texts)
        if self.long is not None:
            return self._generate_long(texts, generators, spatial, temporal, meter), meter
        with meter.stage("control", self.device):
            v0 = self.loaded["control"].sample(self._initial_noise(generators, self.frames), texts["control"],
                                               self.control_steps, meter, "control")
        with meter.stage("refine", self.device):
            return refine(v0, spatial, temporal, self.refinement, meter, generators), meter

    def _generate_long(self, texts: dict[str, Any], generators: list[torch.Generator], spatial: Any, temporal: Any,
                       meter: Any) -> torch.Tensor:
        """ConFiner-Long: segment structures in order (shuffled base noise, coherence guidance), then staggered
        refinement over their concatenation."""
        from bench.methods.confiner.long import CoherenceGuidance, shuffled_base_noise, staggered_refinement
        from bench.methods.confiner.schedules import refine

        settings = self.long
        assert settings is not None
        base = self._initial_noise(generators, settings.segment_length)
        if settings.shuffle_init:  # one permutation per segment and video, from that video's generator
            per_video = [shuffled_base_noise(base[i:i + 1], settings.num_segments, g)
                         for i, g in enumerate(generators)]
            noises = [torch.cat([segments[k] for segments in per_video]) for k in range(settings.num_segments)]
        else:
            noises = [base] + [self._initial_noise(generators, settings.segment_length)
                               for _ in range(settings.num_segments - 1)]
        guidance = CoherenceGuidance(settings.gamma)
        structures = []
        with meter.stage("control", self.device):
            for noise in noises:
                structures.append(self.loaded["control"].sample(noise, texts["control"], self.control_steps, meter,
                                                                "control", eps_hook=guidance))
                guidance.next_segment()
        with meter.stage("refine", self.device):
            return staggered_refinement(
                structures, lambda window: refine(window, spatial, temporal, self.refinement, meter, generators),
                settings.staggered)

    @torch.no_grad()
    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        if not self.loaded:
            raise RuntimeError("ConFiner: setup() was not called")
        prompts = [str(p) for p in batch["prompt"]]
        seed_list = [int(s) for s in torch.as_tensor(seeds).flatten().tolist()]
        if len(seed_list) != len(prompts):
            raise ValueError(f"ConFiner: {len(prompts)} prompts but {len(seed_list)} seeds")
        start = time.perf_counter()
        latents, meter = self.generate(prompts, seed_list)
        with meter.stage("decode", self.device):
            video = self.loaded[self.codec_role].codec(self.decode_chunk_size).decode(latents)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        wall = time.perf_counter() - start
        self._record(meter, len(prompts), wall)
        n = len(prompts)
        return {"video": video, "nfe": torch.full((n,), meter.total_evals, dtype=torch.int64),
                "wall_s": torch.full((n,), wall / n, dtype=torch.float64)}

    def _record(self, meter: Any, videos: int, wall: float) -> None:
        totals = self.totals
        totals["videos"] += videos
        totals["wall_s"] += wall
        totals["nfe_per_video"] = {**meter.evals, "total": meter.total_evals}
        totals["calls_per_video"] = dict(meter.calls)
        for name, seconds in meter.seconds.items():
            totals["seconds"][name] = totals["seconds"].get(name, 0.0) + seconds

    # -- facts ---------------------------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The generation settings as run (defaults filled in)."""
        out: dict[str, Any] = {"frames": self.frames, "resize": self.resize,
                               "latent_size": list(self.latent_size()) if self.loaded else None,
                               "size": list(self.size) if self.size else None, "codec": self.codec_role,
                               "dtype": self.dtype_name}
        if self.single is not None:
            return {**out, "single": self.single, "steps": self.steps}
        out.update({"control_steps": self.control_steps, **asdict(self.refinement)})
        if self.long is not None:
            out["long"] = asdict(self.long)
        return out

    def expected_nfe(self) -> dict[str, int]:
        """UNet evaluations per video from the settings (the meter's count must equal it)."""
        from bench.methods.confiner.schedules import nfe_per_video

        guided = {role: expert.guided for role, expert in self.loaded.items()}
        if self.single is not None:
            total = int(self.steps or 0) * (2 if guided[self.single] else 1)
            return {self.single: total, "total": total}
        nfe = nfe_per_video(self.refinement.mode, self.control_steps, self.refinement.steps, guided["control"],
                            guided["spatial"], guided["temporal"])
        if self.long is not None:
            windows = self.long.num_segments + 1 if self.long.staggered else self.long.num_segments
            nfe = {"control": nfe["control"] * self.long.num_segments, "spatial": nfe["spatial"] * windows,
                   "temporal": nfe["temporal"] * windows}
            nfe["total"] = sum(nfe.values())
        return nfe

    def provenance(self) -> dict[str, Any]:
        totals = self.totals
        seconds = {name: round(value, 4) for name, value in totals["seconds"].items()}
        return {**super().provenance(), "label": LABEL, "settings": self.settings(),
                "experts": {role: expert.facts for role, expert in self.loaded.items()} or
                {role: asdict(spec) for role, spec in self.specs.items()},
                "nfe_per_video": totals.get("nfe_per_video"), "expected_nfe_per_video":
                self.expected_nfe() if self.loaded else None,
                "calls_per_video": totals.get("calls_per_video"),
                "wall_s_per_video_mean": round(totals["wall_s"] / totals["videos"], 4) if totals["videos"] else None,
                "seconds_per_stage_rank": seconds, "videos_rank": totals["videos"],
                "seed_rule": "video i: CPU generator seeded with the runner's per-sample seed (all its noise)",
                "nfe_rule": "UNet evaluations per video; a CFG call counts 2; the paper's '9 steps' counts timesteps"}
