"""``VideoMemorization``: text-to-video generation per prompt with the re-implemented detection signals (content and
motion magnitude), as an adapter of the text-to-image memorization task (one row per prompt; the task's
``MemorizationDetection`` scores any per-step track by name).

Per prompt (a row of a ``datasets/memorization.py`` prompt set, or ``DetectionPrompts``) it generates
``num_videos`` videos from latents drawn by a CPU generator seeded ``gen_seed + row`` and returns, per prompt:
``content_magnitude`` / ``motion_magnitude`` / ``uncond_noise_norm`` (n, steps) (:mod:`.video_sampling`; the two
signals are the sheet's proposal, not the paper's formulas), ``video`` (n, F, H, W, 3) uint8 when ``store_videos``,
``label`` and ``prompt``. ``model`` is a local ``TextToVideoSDPipeline`` folder (ModelScope, zeroscope) or, with
``motion_adapter``, a Stable Diffusion 1.5 folder for AnimateDiff. Re-implementation: every result says so.

Content (GSSCD, :mod:`.content`) and motion (OFS-k, :mod:`.motion`) similarity to training videos are the
``text_to_video_memorization`` task's (:mod:`.task`), which scores the videos this adapter stores.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from bench.method import Method, collate_ragged
from bench.precision import dtype_of
from bench.registry import METHODS
from bench.store import Columns

LABEL = "re-implementation; thresholds not from the paper"
RAGGED = ("gt_images", "gt_videos", "paraphrases", "token_ids")


@METHODS.register_module()
class VideoMemorization(Method):
    """Text-to-video generation with per-step content and motion magnitudes (module docstring)."""

    eval_only_params = ("num_videos", "gen_seed", "sampling", "store_videos", "dtype")

    def __init__(self, model: str | None = None, motion_adapter: str | None = None, num_videos: int = 4,
                 gen_seed: int = 0, sampling: dict[str, Any] | None = None, store_videos: bool = True,
                 dtype: str = "auto", smoke_reason: str | None = None) -> None:
        from bench.methods.vdm_memorization.video_sampling import VideoSamplingSettings

        if isinstance(num_videos, bool) or not isinstance(num_videos, int) or num_videos < 1:
            raise ValueError(f"VideoMemorization: num_videos must be a positive int, got {num_videos!r}")
        self.model, self.motion_adapter = model, motion_adapter
        self.num_videos, self.gen_seed = num_videos, int(gen_seed)
        self.sampling = VideoSamplingSettings(**(sampling or {}))
        self.store_videos, self.dtype_name = bool(store_videos), dtype
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.components: Any = None
        self._uncond: torch.Tensor | None = None

    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.vdm_memorization.video_sampling import load_text_to_video

        if self.model is None:
            raise RuntimeError("VideoMemorization: no model folder; set method.model to a local TextToVideoSDPipeline "
                               "folder (or a Stable Diffusion 1.5 folder with method.motion_adapter for AnimateDiff)")
        dtype = (torch.float16 if device.type == "cuda" else torch.float32) if self.dtype_name == "auto" \
            else dtype_of(self.dtype_name)
        self.components = load_text_to_video(self.model, self.motion_adapter, dtype=dtype).to(device)
        for module in (self.components.unet, self.components.text_encoder, self.components.vae):
            if module is not None:
                module.requires_grad_(False)
        self._uncond = None

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Train the tiny pixel-space text-to-video model (:func:`.toy.train_toy_text_to_video`) on the train set
        and return its folder; a finished folder with the same settings (its ``toy.json``, written last) is returned
        as it is, one with other settings is an error naming them."""
        import shutil

        from bench.methods.vdm_memorization.toy import train_toy_text_to_video

        folder = Path(work_dir) / "model"
        if not resume:
            shutil.rmtree(folder, ignore_errors=True)
        return train_toy_text_to_video(train_set, folder, device=device, **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        self.model = str(path)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, RAGGED)

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        from bench.methods.bright_ending.sampling import encode_prompts
        from bench.methods.vdm_memorization.video_sampling import generate_videos
        from bench.tasks.memorization import prompt_rows

        assert self.components is not None, "setup() was not called"
        if self._uncond is None:
            self._uncond = encode_prompts(self.components, [""])
        prompts = list(batch["prompt"])
        rows = [int(row) for row in torch.as_tensor(batch["row"]).tolist()]
        gen = generate_videos(self.components, encode_prompts(self.components, prompts), self._uncond,
                              [self.gen_seed + row for row in rows], self.num_videos, self.sampling)
        n = self.num_videos
        per_prompt = []
        for p, prompt in enumerate(prompts):
            part = slice(p * n, (p + 1) * n)
            row = {"prompt": prompt, "content_magnitude": gen.content_magnitude[part],
                   "motion_magnitude": gen.motion_magnitude[part], "uncond_noise_norm": gen.uncond_noise_norm[part]}
            if self.store_videos:
                row["video"] = gen.frames[part]
            per_prompt.append(row)
        return prompt_rows(batch, per_prompt)

    def provenance(self) -> dict[str, Any]:
        from bench.methods.vdm_memorization.video_sampling import video_facts

        components = self.components
        return {**super().provenance(), "label": LABEL,
                "model": components.facts if components is not None else None,
                "video": video_facts(components, self.sampling) if components is not None else None,
                "num_videos": self.num_videos, "gen_seed": self.gen_seed, "seed_rule": "gen_seed + row",
                "sampling": asdict(self.sampling), "signals": {
                    "content_magnitude": "||eps_c - eps_u||_2 over the video latent (Wen et al. on the video UNet)",
                    "motion_magnitude": "||diff over frames of (eps_c - eps_u)||_2 (the sheet's guess)"}}
