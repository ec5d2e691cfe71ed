"""``BrightEnding``: text-to-image generation per prompt with Wen's magnitude tracks, the BE map and BE's masked
magnitude, and the mitigations of the two papers' repositories, as one adapter of the memorization task.

Per prompt (a row of a ``datasets/memorization.py`` prompt set) it generates ``num_images`` images from latents
seeded ``gen_seed + row`` (the official per-prompt seed) and returns, per prompt:

- ``text_noise_norm`` / ``uncond_noise_norm`` (n, steps): Wen's detector signal at every step (``signals`` "wen");
- ``eos_map`` (n, h, w) float16 and ``masked_noise_norm`` (n, steps): the BE map at ``attention.step`` and m′ with it
  (``signals`` "be"; ``passes`` 1 computes m′ from the first pass's kept ε differences, 2 regenerates as the official
  ``--run_version ours`` does: equal, the generation being deterministic);
- ``image`` (n, H, W, 3) uint8 (``store_images``), ``label``, ``prompt`` (the prompt as generated, after any
  augmentation), and for prompt optimisation ``optim_iterations`` (n,) and ``optim_final_loss`` (n,).

``mitigation`` (one of, the rows of the mitigation table):

- ``dict(type="prompt_optimization", loss="plain" | "masked", lr=0.05, iters=10, target_loss=1.0,
  target_steps=(0,), dtype="bfloat16")``: Wen's inference-time prompt-embedding optimisation; ``masked`` is BE's
  loss m′ with the map of a first, unmitigated generation with the same seed (the official ``mit_attn_scores.npz``);
- ``dict(type="prompt_augmentation", style="rand_numb_add" | "rand_word_add" | "rand_word_repeat", repeat_num=...)``:
  Somepalli et al.'s RNA / RT / CWR baselines of the same repository, drawn from a ``random.Random(gen_seed + row)``;
- ``dict(type="embedding_noise", std=...)``: GNI, Gaussian noise on the text embedding.

``model`` is a local Stable Diffusion v1.x folder (diffusers layout) or a pixel-space folder without ``vae``; with a
``train`` section the demo's tiny model is trained on the train set (:mod:`.toy`) and used.
"""
from __future__ import annotations

import random
from dataclasses import asdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bench.method import Method, collate_ragged
from bench.precision import dtype_of
from bench.registry import METHODS
from bench.store import Columns

SIGNALS = ("wen", "be")
MITIGATIONS = ("prompt_optimization", "prompt_augmentation", "embedding_noise")
RAGGED = ("gt_images", "paraphrases", "token_ids")


def _mitigation_spec(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    spec = dict(spec)
    kind = spec.get("type")
    if kind not in MITIGATIONS:
        raise ValueError(f"BrightEnding: mitigation.type must be one of {MITIGATIONS}, got {kind!r}")
    if kind == "prompt_optimization" and spec.get("loss", "plain") not in ("plain", "masked"):
        raise ValueError(f"BrightEnding: mitigation.loss must be 'plain' (Wen) or 'masked' (BE's m′), got "
                         f"{spec.get('loss')!r}")
    return spec


@METHODS.register_module()
class BrightEnding(Method):
    """Generation with the memorization signals of Wen et al. and Bright Ending (module docstring)."""

    eval_only_params = ("num_images", "sampling", "gen_seed", "signals", "attention", "passes", "mitigation",
                        "store_images", "dtype")

    def __init__(self, model: str | None = None, num_images: int = 4, sampling: dict[str, Any] | None = None,
                 gen_seed: int = 0, signals: Sequence[str] = SIGNALS, attention: dict[str, Any] | None = None,
                 passes: int = 1, mitigation: dict[str, Any] | None = None, store_images: bool = True,
                 dtype: str = "auto", toy: dict[str, Any] | None = None, smoke_reason: str | None = None) -> None:
        from bench.methods.bright_ending.sampling import SamplingSettings

        unknown = [s for s in signals if s not in SIGNALS]
        if unknown or not signals:
            raise ValueError(f"BrightEnding: signals must be a non-empty subset of {SIGNALS}, got {list(signals)}")
        if passes not in (1, 2):
            raise ValueError(f"BrightEnding: passes must be 1 (m′ from the kept differences) or 2 (regenerate, as the "
                             f"official code), got {passes!r}")
        if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
            raise ValueError(f"BrightEnding: num_images must be a positive int, got {num_images!r}")
        self.model, self.num_images, self.gen_seed = model, num_images, int(gen_seed)
        self.sampling = SamplingSettings(**(sampling or {}))
        self.signals, self.passes = tuple(signals), passes
        attention = dict(attention or {})
        extra = set(attention) - {"step", "block"}
        if extra:
            raise ValueError(f"BrightEnding: attention takes 'step' and 'block', not {sorted(extra)}")
        self.attention_step, self.attention_block = int(attention.get("step", -1)), attention.get("block",
                                                                                                    "down_blocks.0")
        self.mitigation = _mitigation_spec(mitigation)
        self.store_images, self.dtype_name = bool(store_images), dtype
        self.toy = dict(toy or {})
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.components: Any = None
        self.capture: Any = None
        self._uncond: torch.Tensor | None = None

    # ------------------------------------------------------------------------------------------------ building
    def _dtype(self, device: torch.device) -> torch.dtype:
        if self.dtype_name == "auto":  # the official fp16 on GPU; fp16 convolutions are slow or missing on CPU
            return torch.float16 if device.type == "cuda" else torch.float32
        return dtype_of(self.dtype_name)

    @property
    def needs_map(self) -> bool:
        optimisation = self.mitigation or {}
        return "be" in self.signals or optimisation.get("loss") == "masked"

    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.bright_ending.attention import EOSAttentionCapture, install
        from bench.methods.diffusion.stable_diffusion import load_text_to_image

        if self.model is None:
            raise RuntimeError("BrightEnding: no model folder; set method.model to a local Stable Diffusion v1.x "
                               "folder (diffusers layout), or run the config's train stage (bench run) first")
        self.components = load_text_to_image(self.model, self._dtype(device), scheduler="DDIMScheduler").to(device)
        for module in (self.components.unet, self.components.text_encoder, self.components.vae):
            if module is not None:
                module.requires_grad_(False)
        self.capture = EOSAttentionCapture(step=self.attention_step)
        if self.needs_map:
            install(self.components.unet, self.capture, self.attention_block)
        self._uncond = None

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Train the demo's tiny pixel-space text-to-image model (:func:`.toy.train_toy_text_to_image`) and return its
        folder."""
        from bench.methods.bright_ending.toy import train_toy_text_to_image

        return train_toy_text_to_image(train_set, Path(work_dir) / "model", device=device, **{**self.toy, **train_cfg})

    def use_checkpoint(self, path: str | Path) -> None:
        self.model = str(path)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, RAGGED)

    # ------------------------------------------------------------------------------------------------ sampling
    def _encode(self, prompts: list[str]) -> torch.Tensor:
        from bench.methods.bright_ending.sampling import encode_prompts

        return encode_prompts(self.components, prompts)

    def _prompt(self, prompt: str, seed: int) -> str:
        spec = self.mitigation or {}
        if spec.get("type") != "prompt_augmentation":
            return prompt
        from bench.methods.bright_ending.mitigation import augment_prompt

        options = {k: v for k, v in spec.items() if k != "type"}
        return augment_prompt(prompt, rng=random.Random(seed), tokenizer=self.components.tokenizer, **options)

    def _condition(self, text: str, seed: int) -> torch.Tensor:
        cond = self._encode([text])
        spec = self.mitigation or {}
        if spec.get("type") == "embedding_noise":
            from bench.methods.bright_ending.mitigation import gaussian_noise_embedding

            generator = torch.Generator().manual_seed(seed)
            cond = gaussian_noise_embedding(cond.expand(self.num_images, -1, -1).cpu().float(), float(spec["std"]),
                                            generator).to(cond.device, cond.dtype)
        return cond

    def _optimiser(self, mask: torch.Tensor | None, record: list[dict[str, Any]]) -> Any:
        from bench.methods.bright_ending.mitigation import PromptOptimization, optimize_prompt_embedding

        spec = {k: v for k, v in (self.mitigation or {}).items() if k not in ("type", "loss")}
        if "target_steps" in spec:
            spec["target_steps"] = tuple(spec["target_steps"])
        settings = PromptOptimization(**spec)
        unet, scheduler = self.components.unet, self.components.scheduler

        def before_step(i: int, t: torch.Tensor, latents: torch.Tensor, cond: torch.Tensor,
                        uncond: torch.Tensor) -> torch.Tensor:
            if i not in settings.target_steps:
                return cond
            new, facts = optimize_prompt_embedding(unet, latents, t, cond, uncond, settings, mask=mask,
                                                   scale_model_input=scheduler.scale_model_input)
            record.append(facts)
            return new
        return before_step

    def _one_prompt(self, prompt: str, row: int) -> dict[str, Any]:
        from bench.methods.bright_ending.attention import eos_index
        from bench.methods.bright_ending.sampling import generate, masked_tracks

        seed = self.gen_seed + int(row)
        text = self._prompt(prompt, seed)
        tokenizer = self.components.tokenizer
        eos = eos_index(text, tokenizer, max_tokens=tokenizer.model_max_length)
        if self._uncond is None:
            self._uncond = self._encode([""])
        cond, n = self._condition(text, seed), self.num_images
        capture = self.capture if self.needs_map else None
        run = dict(n=n, seed=seed, settings=self.sampling, capture=capture, eos=eos)
        spec = self.mitigation or {}
        out: dict[str, Any] = {"prompt": text}
        if spec.get("type") == "prompt_optimization":
            mask = None
            if spec.get("loss") == "masked":  # the map of the unmitigated generation (official: mit_attn_scores.npz)
                mask = generate(self.components, cond, self._uncond, **run).eos_map[:, None]
            record: list[dict[str, Any]] = []
            gen = generate(self.components, cond, self._uncond, before_step=self._optimiser(mask, record),
                           mask=mask if "be" in self.signals else None, **run)
            out["optim_iterations"] = torch.tensor([float(sum(r["iterations"] for r in record))] * n)
            out["optim_final_loss"] = torch.tensor([float(record[-1]["losses"][-1]) if record and record[-1]["losses"]
                                                    else float("nan")] * n)
            masked = gen.masked_noise_norm
        else:
            keep = "be" in self.signals and self.passes == 1
            gen = generate(self.components, cond, self._uncond, keep_differences=keep, **run)
            masked = None
            if "be" in self.signals:
                if self.passes == 1:
                    masked = masked_tracks(gen.differences, gen.eos_map)
                else:
                    masked = generate(self.components, cond, self._uncond, mask=gen.eos_map[:, None],
                                      **run).masked_noise_norm
        out["text_noise_norm"], out["uncond_noise_norm"] = gen.text_noise_norm, gen.uncond_noise_norm
        if "be" in self.signals:
            out["masked_noise_norm"] = masked
        if gen.eos_map is not None:
            out["eos_map"] = gen.eos_map.to(torch.float16)
        if self.store_images:
            out["image"] = gen.images
        return out

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        per_prompt = [self._one_prompt(prompt, row) for prompt, row in zip(batch["prompt"], batch["row"].tolist(),
                                                                            strict=True)]
        outputs: Columns = {"label": torch.as_tensor(batch["label"]).long(),
                            "prompt": [p.pop("prompt") for p in per_prompt]}
        for name in per_prompt[0]:
            outputs[name] = torch.stack([p[name] for p in per_prompt])
        return outputs

    def provenance(self) -> dict[str, Any]:
        import diffusers

        return {**super().provenance(), "model": self.components.facts if self.components is not None else None,
                "num_images": self.num_images, "gen_seed": self.gen_seed, "seed_rule": "gen_seed + row",
                "sampling": asdict(self.sampling) | {"scheduler": "DDIMScheduler"}, "signals": list(self.signals),
                "attention": {"step": self.attention_step, "block": self.attention_block,
                              "layers": list(self.capture.layers) if self.capture is not None else []},
                "passes": self.passes, "mitigation": self.mitigation, "diffusers": diffusers.__version__,
                "dtype": str(self.components.unet.dtype).removeprefix("torch.") if self.components else None}
