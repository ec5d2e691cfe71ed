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
  target_step=0, dtype="bfloat16", weight_decay=0.01)``: Wen's inference-time prompt-embedding optimisation
  (:mod:`.mitigation`); ``masked`` is BE's loss m′ with the map of a first, unmitigated generation with the
  same seed (the official ``mit_attn_scores.npz``);
- ``dict(type="prompt_augmentation", style="rand_numb_add" | "rand_word_add" | "rand_word_repeat", repeat_num=...)``:
  Somepalli et al.'s RNA / RT / CWR baselines of the same repository, drawn from a ``random.Random(gen_seed + row)``;
- ``dict(type="embedding_noise", std=...)``: GNI, Gaussian noise on the text embedding.

``model`` is a local Stable Diffusion v1.x folder (diffusers layout) or a pixel-space folder without ``vae``; with a
``train`` section the demo's tiny model is trained on the train set (:mod:`.toy`) and used.
"""
from __future__ import annotations

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
    """The mitigation spec, checked now (a bad knob fails at build time, not after the first generation)."""
    if spec is None:
        return None
    from bench.methods.bright_ending.mitigation import AUGMENTATION_STYLES, PromptOptimization

    spec = dict(spec)
    kind = spec.get("type")
    if kind not in MITIGATIONS:
        raise ValueError(f"BrightEnding: mitigation.type must be one of {MITIGATIONS}, got {kind!r}")
    options = {k: v for k, v in spec.items() if k != "type"}
    if kind == "prompt_optimization":
        if options.pop("loss", "plain") not in ("plain", "masked"):
            raise ValueError(f"BrightEnding: mitigation.loss must be 'plain' (Wen) or 'masked' (BE's m′), got "
                             f"{spec.get('loss')!r}")
        PromptOptimization(**options)
    elif kind == "prompt_augmentation":
        if options.get("style") not in AUGMENTATION_STYLES or set(options) - {"style", "repeat_num"}:
            raise ValueError(f"BrightEnding: prompt_augmentation takes style (one of {sorted(AUGMENTATION_STYLES)}) "
                             f"and repeat_num, got {options}")
    elif set(options) != {"std"} or float(options["std"]) < 0:
        raise ValueError(f"BrightEnding: embedding_noise takes std (>= 0, the noise's standard deviation), got "
                         f"{options}")
    return spec


@METHODS.register_module()
class BrightEnding(Method):
    """Generation with the memorization signals of Wen et al. and Bright Ending (module docstring)."""

    eval_only_params = ("num_images", "sampling", "gen_seed", "signals", "attention", "passes", "mitigation",
                        "store_images", "dtype")

    def __init__(self, model: str | None = None, num_images: int = 4, sampling: dict[str, Any] | None = None,
                 gen_seed: int = 0, signals: Sequence[str] = SIGNALS, attention: dict[str, Any] | None = None,
                 passes: int = 1, mitigation: dict[str, Any] | None = None, store_images: bool = True,
                 dtype: str = "auto", smoke_reason: str | None = None) -> None:
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
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.components: Any = None
        self.capture: Any = None
        self._uncond: torch.Tensor | None = None
        self._augmenter: Any = None

    # ------------------------------------------------------------------------------------------------ building
    def _dtype(self, device: torch.device) -> torch.dtype:
        if self.dtype_name == "auto":  # the official precision on GPU (fp16 detection, bf16 mitigation); float32 on
            if device.type != "cuda":  # CPU, where the bf16 optimisation runs under autocast (mitigation.py)
                return torch.float32
            optimising = (self.mitigation or {}).get("type") == "prompt_optimization"
            return torch.bfloat16 if optimising else torch.float16
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
        folder; with ``resume`` a finished model in ``work_dir`` (its ``toy.json``, written last) is returned as it is
        (the folder is keyed by everything training uses, so configs that share it train once)."""
        from bench.methods.bright_ending.toy import train_toy_text_to_image

        folder = Path(work_dir) / "model"
        if resume and (folder / "toy.json").is_file():
            return folder
        return train_toy_text_to_image(train_set, folder, device=device, **train_cfg)  # the train section's settings

    def use_checkpoint(self, path: str | Path) -> None:
        self.model = str(path)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, RAGGED)

    # ------------------------------------------------------------------------------------------------ sampling
    def _encode(self, prompts: list[str]) -> torch.Tensor:
        from bench.methods.bright_ending.sampling import encode_prompts

        return encode_prompts(self.components, prompts)

    def _prompt(self, prompt: str, seed: int) -> str:
        if self._augmenter is None:
            from bench.methods.bright_ending.mitigation import PromptAugmenter

            self._augmenter = PromptAugmenter(self.components.tokenizer)
        return self._augmenter(prompt, self.mitigation, seed)

    def _embeddings(self, text: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The conditional and unconditional embeddings; GNI (as ``inference_mem_gni.py``) adds noise of std
        ``std`` to every position of both halves of the CFG batch, one draw per generation."""
        if self._uncond is None:
            self._uncond = self._encode([""])
        cond, uncond = self._encode([text]), self._uncond
        spec = self.mitigation or {}
        if spec.get("type") == "embedding_noise":
            from bench.methods.bright_ending.mitigation import gaussian_noise_embedding

            generator, n = torch.Generator().manual_seed(seed), self.num_images
            both = torch.cat([uncond.expand(n, -1, -1), cond.expand(n, -1, -1)]).cpu()
            noisy = gaussian_noise_embedding(both, float(spec["std"]), generator).to(cond.device, cond.dtype)
            uncond, cond = noisy.chunk(2)
        return cond, uncond

    def _optimised(self, cond: torch.Tensor, uncond: torch.Tensor, mask: torch.Tensor | None, run: dict[str, Any],
                   ) -> tuple[Any, list[dict[str, Any]]]:
        """Wen's mitigation: optimise the conditional embedding at ``target_step`` of a generation, then generate
        from the same x_T with the optimised embedding at every step (official ``inference_mem.py``); at step 0 the
        first generation already is that one."""
        from bench.methods.bright_ending.mitigation import PromptOptimization, optimize_prompt_embedding
        from bench.methods.bright_ending.sampling import generate

        settings = PromptOptimization(**{k: v for k, v in (self.mitigation or {}).items() if k not in ("type", "loss")})
        unet, scheduler = self.components.unet, self.components.scheduler
        record: list[dict[str, Any]] = []
        optimised: dict[str, torch.Tensor] = {}

        def before_step(i: int, t: torch.Tensor, latents: torch.Tensor, c: torch.Tensor,
                        u: torch.Tensor) -> torch.Tensor:
            if i != settings.target_step or optimised:
                return c
            optimised["cond"], facts = optimize_prompt_embedding(unet, latents, t, c, u, settings, mask=mask,
                                                                 scale_model_input=scheduler.scale_model_input)
            record.append(facts)
            return optimised["cond"]

        keep = "be" in self.signals  # m′ of the mitigated generation, with its own map
        gen = generate(self.components, cond, uncond, before_step=before_step, keep_differences=keep, **run)
        if settings.target_step > 0:
            gen = generate(self.components, optimised["cond"], uncond, keep_differences=keep, **run)
        return gen, record

    def _one_prompt(self, prompt: str, row: int) -> dict[str, Any]:
        from bench.methods.bright_ending.attention import eos_index
        from bench.methods.bright_ending.sampling import generate, masked_tracks

        seed = self.gen_seed + int(row)
        text = self._prompt(prompt, seed)
        tokenizer = self.components.tokenizer
        eos = eos_index(text, tokenizer, max_tokens=tokenizer.model_max_length)
        cond, uncond = self._embeddings(text, seed)
        n = self.num_images
        capture = self.capture if self.needs_map else None
        run = dict(n=n, seed=seed, settings=self.sampling, capture=capture, eos=eos)
        spec = self.mitigation or {}
        out: dict[str, Any] = {"prompt": text}
        if spec.get("type") == "prompt_optimization":
            mask = None
            if spec.get("loss") == "masked":  # the map of the unmitigated generation (official: mit_attn_scores.npz)
                mask = generate(self.components, cond, uncond, **run).eos_map[:, None]
            gen, record = self._optimised(cond, uncond, mask, run)
            out["optim_iterations"] = torch.full((n,), float(sum(r["iterations"] for r in record)))
            last = record[-1]["losses"] if record else []
            out["optim_final_loss"] = torch.full((n,), float(last[-1]) if last else float("nan"))
            masked = masked_tracks(gen.differences, gen.eos_map) if "be" in self.signals else None
        else:
            keep = "be" in self.signals and self.passes == 1
            gen = generate(self.components, cond, uncond, keep_differences=keep, **run)
            masked = None
            if "be" in self.signals:
                if self.passes == 1:
                    masked = masked_tracks(gen.differences, gen.eos_map)
                else:
                    masked = generate(self.components, cond, uncond, mask=gen.eos_map[:, None],
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
        from bench.tasks.memorization import prompt_rows

        return prompt_rows(batch, [self._one_prompt(prompt, row)
                                   for prompt, row in zip(batch["prompt"], batch["row"].tolist(), strict=True)])

    def provenance(self) -> dict[str, Any]:
        import diffusers

        return {**super().provenance(), "model": self.components.facts if self.components is not None else None,
                "num_images": self.num_images, "gen_seed": self.gen_seed, "seed_rule": "gen_seed + row",
                "sampling": asdict(self.sampling) | {"scheduler": "DDIMScheduler"}, "signals": list(self.signals),
                "attention": {"step": self.attention_step, "block": self.attention_block,
                              "layers": list(self.capture.layers) if self.capture is not None else []},
                "passes": self.passes, "mitigation": self.mitigation, "diffusers": diffusers.__version__,
                "dtype": str(self.components.unet.dtype).removeprefix("torch.") if self.components else None}
