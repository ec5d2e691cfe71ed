"""``AMGTextSampler``: AMG's text-conditional branch (Stable Diffusion v1.4, Tables 1 and 4) as an adapter of the
text-to-image memorization task, with the prompt-side baselines of Table 1 (GNI, RT, CWR, RNA).

Per prompt (a row of a ``datasets/memorization.py`` prompt set) it draws ``num_images`` latents from a CPU generator
seeded ``gen_seed + row`` and samples them with :func:`.text_sampler.generate_text_amg` (DDIM η = 0, CFG 7.5, 50
steps by default): plainly (``guidance`` None: the SD row, and the baselines' rows), or with AMG's three terms
(``guidance=dict(setting="main" | "strong", g_spe=..., g_dup=..., g_sim=..., schedule=..., ...)``, any
:class:`~.text_sampler.TextGuidanceSettings` field). Guidance measures σ against ``reference``, a local
:class:`~.reference_index.ReferenceIndex` in place of the closed LAION-5B kNN service: every such run is a
**proxy-reference** result (``provenance()["reference"]["reference"] == "proxy"``, and the configs label the row).

Main is c₃ = 100 (the README's ``--guidance_scale``); the paper does not give Strong's c₃: we chose 200 and say so.
Outputs per prompt: ``image`` (n, H, W, 3) uint8, ``label``, ``prompt`` (after augmentation),
``amg_similarity_before`` / ``amg_similarity_after`` (n, steps) σ₁ / σ₂ (NaN where not computed), ``spe_steps``,
``dup_steps``, ``guided_steps`` (n,) (the dissimilarity term's steps), ``amg_neighbour`` (n,) the last step's n₀.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from bench.method import Method, collate_ragged
from bench.precision import dtype_of
from bench.registry import EXTRACTORS, METHODS
from bench.store import Columns

TEXT_SETTINGS = {"main": {"c3": 100.0}, "strong": {"c3": 200.0}}  # Strong's c₃: our choice (the paper's is unknown)
SCHEDULE_DEFAULTS = {"a": 0.3, "b": 0.4, "c": 0.005, "d": 0.0, "constant": 0.4}
BASELINES = ("prompt_augmentation", "embedding_noise")
RAGGED = ("gt_images", "paraphrases", "token_ids")


def text_settings(spec: dict[str, Any] | None, num_inference_steps: int, cfg_scale: float) -> Any:
    """:class:`TextGuidanceSettings` from a config's ``guidance`` (None: every term off, plain DDIM + CFG)."""
    from bench.methods.amg.guidance import guidance_fields
    from bench.methods.amg.text_sampler import TextGuidanceSettings

    base = {"num_inference_steps": int(num_inference_steps), "cfg_scale": float(cfg_scale)}
    if spec is None:
        return TextGuidanceSettings(**base, g_spe=False, g_dup=False, g_sim=False)
    known = set(TextGuidanceSettings.__dataclass_fields__) - {"schedule", *base}
    fields = guidance_fields(spec, TEXT_SETTINGS, SCHEDULE_DEFAULTS, True, known, "AMGTextSampler",
                             " (steps and CFG scale are method.num_inference_steps and method.cfg_scale)")
    return TextGuidanceSettings(**base, **fields)


def _baseline_spec(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    from bench.methods.bright_ending.mitigation import AUGMENTATION_STYLES

    spec = dict(spec)
    kind = spec.get("type")
    options = {k: v for k, v in spec.items() if k != "type"}
    if kind == "prompt_augmentation":
        if options.get("style") not in AUGMENTATION_STYLES or set(options) - {"style", "repeat_num"}:
            raise ValueError(f"AMGTextSampler: prompt_augmentation takes style (one of {sorted(AUGMENTATION_STYLES)})"
                             f" and repeat_num, got {options}")
    elif kind == "embedding_noise":
        if set(options) != {"std"} or float(options["std"]) < 0:
            raise ValueError(f"AMGTextSampler: embedding_noise takes std (>= 0), got {options}")
    else:
        raise ValueError(f"AMGTextSampler: baseline.type must be one of {BASELINES}, got {kind!r}")
    return spec


@METHODS.register_module()
class AMGTextSampler(Method):
    """Text-to-image sampling with AMG's guidance against a local reference index (module docstring).

    ``reference``: ``dict(folder=<img2dataset files folder>, retrieval=<extractor spec>, similarity=<extractor spec>,
    input_size=224 | None, cache_dir=None)``; the official extractors are ``CLIPScoreFeatures`` (``variant="amg"``)
    and ``SSCDFeatures`` (``preprocessing="amg"``, ``sscd_disc_mixup``).
    """

    eval_only_params = ("num_images", "gen_seed", "num_inference_steps", "cfg_scale", "guidance", "reference",
                        "baseline", "dtype")

    def __init__(self, model: str | None = None, num_images: int = 1, gen_seed: int = 0,
                 num_inference_steps: int = 50, cfg_scale: float = 7.5, guidance: dict[str, Any] | None = None,
                 reference: dict[str, Any] | None = None, baseline: dict[str, Any] | None = None,
                 dtype: str = "auto", smoke_reason: str | None = None) -> None:
        if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
            raise ValueError(f"AMGTextSampler: num_images must be a positive int, got {num_images!r}")
        self.settings = text_settings(guidance, num_inference_steps, cfg_scale)
        if guidance is not None and reference is None:
            raise ValueError("AMGTextSampler: guidance needs 'reference' (dict(folder=..., retrieval=..., "
                             "similarity=...): the local stand-in for AMG's LAION-5B kNN)")
        self.model, self.num_images, self.gen_seed = model, num_images, int(gen_seed)
        self.guidance_spec, self.reference_spec = guidance, dict(reference) if reference else None
        self.baseline = _baseline_spec(baseline)
        self.dtype_name = dtype
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.components: Any = None
        self.guide: Any = None
        self.reference_facts: dict[str, Any] = {}
        self._augmenter: Any = None

    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.diffusion.stable_diffusion import load_text_to_image

        if self.model is None:
            raise RuntimeError("AMGTextSampler: no model folder; set method.model to a local Stable Diffusion v1.x "
                               "folder (diffusers layout) or a pixel-space folder, or run the config's train stage")
        dtype = (torch.float16 if device.type == "cuda" else torch.float32) if self.dtype_name == "auto" \
            else dtype_of(self.dtype_name)
        self.components = load_text_to_image(self.model, dtype, scheduler="DDIMScheduler").to(device)
        for module in (self.components.unet, self.components.text_encoder, self.components.vae):
            if module is not None:
                module.requires_grad_(False)
        if self.reference_spec is not None and self.settings.any_term:
            self.guide = self._build_guide(device)

    def _build_guide(self, device: torch.device) -> Any:
        from bench.methods.amg.reference_index import ReferenceIndex
        from bench.methods.amg.similarity import ReferenceSimilarity
        from bench.results import results_root

        spec = dict(self.reference_spec or {})
        missing = [key for key in ("folder", "retrieval", "similarity") if key not in spec]
        if missing:
            raise ValueError(f"AMGTextSampler: reference lacks {missing}; give dict(folder=..., retrieval=<extractor "
                             "spec>, similarity=<extractor spec>)")
        retrieval = EXTRACTORS.build(dict(spec.pop("retrieval"))).to(device)
        similarity = EXTRACTORS.build(dict(spec.pop("similarity"))).to(device)
        cache_dir = spec.pop("cache_dir", None) or results_root() / "references"
        input_size = spec.pop("input_size", 224)
        index = ReferenceIndex(spec.pop("folder"), retrieval, similarity, cache_dir=cache_dir,
                               **({"batch_size": spec.pop("batch_size")} if "batch_size" in spec else {}))
        if spec:
            raise ValueError(f"AMGTextSampler: unknown reference keys {sorted(spec)}")
        self.reference_facts = index.describe()
        return ReferenceSimilarity(index, input_size=input_size)

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Train the tiny pixel-space text-to-image model of the Bright Ending demo (smoke runs and tests)."""
        from bench.methods.bright_ending.toy import train_toy_text_to_image

        folder = Path(work_dir) / "model"
        if resume and (folder / "toy.json").is_file():
            return folder
        return train_toy_text_to_image(train_set, folder, device=device, **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        self.model = str(path)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, RAGGED)

    def _prompt(self, prompt: str, seed: int) -> str:
        if self._augmenter is None:
            from bench.methods.bright_ending.mitigation import PromptAugmenter

            self._augmenter = PromptAugmenter(self.components.tokenizer)
        return self._augmenter(prompt, self.baseline, seed)

    def _prompt_embeds(self, text: str, seed: int) -> torch.Tensor | None:
        """GNI: Gaussian noise of ``std`` on the prompt's embedding, one draw per generation (the unconditional
        half stays clean here; Bright Ending's GNI perturbs both halves of its CFG batch)."""
        spec = self.baseline or {}
        if spec.get("type") != "embedding_noise":
            return None
        from bench.methods.bright_ending.mitigation import gaussian_noise_embedding
        from bench.methods.bright_ending.sampling import encode_prompts

        cond = encode_prompts(self.components, [text]).expand(self.num_images, -1, -1).cpu()
        return gaussian_noise_embedding(cond, float(spec["std"]), torch.Generator().manual_seed(seed))

    def _one_prompt(self, prompt: str, row: int) -> dict[str, Any]:
        from bench.methods.amg.text_sampler import generate_text_amg

        seed = self.gen_seed + int(row)
        text = self._prompt(prompt, seed)
        unet = self.components.unet
        size = unet.config.sample_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        shape = (self.num_images, unet.config.in_channels, *size)
        latents = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
        result = generate_text_amg(self.components, [text] * self.num_images, latents, self.settings,
                                   self.guide if self.settings.any_term else None,
                                   prompt_embeds=self._prompt_embeds(text, seed))
        return {"prompt": text, "image": result.images, "amg_similarity_before": result.similarity_before.float(),
                "amg_similarity_after": result.similarity_after.float(), "spe_steps": result.spe_steps,
                "dup_steps": result.dup_steps, "guided_steps": result.sim_steps, "amg_neighbour": result.neighbour}

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        from bench.tasks.memorization import prompt_rows

        return prompt_rows(batch, [self._one_prompt(prompt, row)
                                   for prompt, row in zip(batch["prompt"], batch["row"].tolist(), strict=True)])

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "model": self.components.facts if self.components is not None else None,
                "num_images": self.num_images, "gen_seed": self.gen_seed, "seed_rule": "gen_seed + row",
                "guidance": asdict(self.settings) if self.guidance_spec is not None else None,
                "strong_c3_is_our_choice": bool(self.guidance_spec and self.guidance_spec.get("setting") == "strong"),
                "base_count_gate": "dropped (the official code leaves the first 21 images of a fresh folder unguided)",
                "reference": self.reference_facts or None, "baseline": self.baseline}
