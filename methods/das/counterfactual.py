"""``Counterfactual``: the DAS paper's counterfactual evaluation (§6, after D-TRAK) as a train stage, on any model the
``DataAttribution`` adapter attributes.

Train stage: generate ``num_queries`` images from the full model (the project's sampler,
:func:`bench.methods.diffusion.adapter.sample_images`), score them with the attribution method, then for each query
retrain the full model's recipe (same seed) WITHOUT its top-k training samples, and, as the control the paper lacks,
without k random ones, regenerate with the same noise seed, and store the images in a
:class:`bench.tasks.attribution.counterfactual.CounterfactualEdits` folder (resumable per entry). Eval stage (task
``attribution_counterfactual``, dataset ``GenerationRequests(num_samples=num_queries)``): per query ``l2_topk`` and
``l2_random``, the pixel L2 change (images in [0, 1]), and with ``clip`` (an image extractor spec, e.g.
``CLIPScoreFeatures`` from a local checkpoint) the paper's second measure, ``clip_topk`` and ``clip_random``: the
cosine of the original's and the regeneration's embeddings (1 = unchanged; lower = a bigger change).

Deviations from the paper: the queries' scores are recomputed here from the attribution config's method section and
model (the ``DataAttribution`` run of the demo scores real val digits, not generated ones). The CLIP similarity is
off unless ``clip`` is given (digits: not applicable, no CLIP model on 8×8 digits); which CLIP the paper used is not
in its code (D-TRAK's CLIP baseline uses OpenAI ViT-B/32).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.method import Method
from bench.registry import METHODS
from bench.store import Columns

ARTEFACT_DIR = "counterfactual"  # under the train stage's work_dir unless ``artefact_dir`` is given
ENTRIES_DIR = "entries"
SUMMARY_FILE = "counterfactual_summary.json"
RECIPE_KEYS = ("unet_config", "train_scheduler")  # the full model's recipe: its DiffusionSampler (or DataAttribution)
# section


@METHODS.register_module()
class Counterfactual(Method):
    """Per generated query, ``l2_topk`` and ``l2_random`` (module docstring).

    Args:
        attribution: the ``DataAttribution`` section that scores the queries (a config's ``"upstream:<name>.method"``).
        model: the full-data DDPM folder it attributes (``"upstream:<name>"``, product ``checkpoint``).
        recipe: the section holding that model's ``unet_config`` and ``train_scheduler``, the recipe every model is
            retrained with: the model config's method (``"upstream:<name>.method"``, a ``DiffusionSampler``); by
            default the attribution section's own.
        k: training samples removed per query (the paper: 1000 of CIFAR-2's 5000).
        num_queries, query_seed: the generated queries, ids ``000000``, ``000001``, … (``GenerationRequests``'), the
            noise of query ``id`` seeded ``sample_seed(query_seed, id)`` as a generation run with ``run.seed`` =
            ``query_seed`` seeds it.
        sampler, num_inference_steps: the scheduler spec (``DiffusionSampler``'s) and steps of every generation.
        random_seed: seed of the random-removal control (query ``q`` draws with ``default_rng([random_seed, q])``).
        artefact_dir: where the edits go (default ``<train work_dir>/counterfactual``); configs of several
            attribution methods on one model may share it (each adds its removal kind; the random control is
            trained once).
        keep_models: keep each retrained model's folder.
        clip: an image extractor spec (``bench.registry.EXTRACTORS``, e.g. ``dict(type="CLIPScoreFeatures",
            checkpoint=..., model_name="ViT-B-32", tag="openai")``): the eval stage also returns ``clip_topk`` and
            ``clip_random`` (summarised by the ``CounterfactualCLIP`` metric); None: not measured.
    """

    def __init__(self, attribution: dict[str, Any], model: str, k: int, num_queries: int = 8, query_seed: int = 0,
                 sampler: dict[str, Any] | None = None, num_inference_steps: int = 100, random_seed: int = 0,
                 artefact_dir: str | None = None, keep_models: bool = False,
                 recipe: dict[str, Any] | None = None, clip: dict[str, Any] | None = None) -> None:
        if not isinstance(attribution, dict) or attribution.get("type") != "DataAttribution":
            raise ValueError("Counterfactual: attribution must be a DataAttribution method section (e.g. "
                             f"'upstream:das.method'), got {attribution!r}")
        recipe = attribution if recipe is None else recipe
        lacking = [key for key in RECIPE_KEYS if not isinstance(recipe, dict) or not recipe.get(key)]
        if lacking:
            where = "attribution section" if recipe is attribution else "recipe section"
            raise ValueError(f"Counterfactual: the {where} lacks {lacking}: the full model's recipe (UNet config and "
                             "training scheduler) is what every model is retrained with; give recipe="
                             "'upstream:<model>.method' (the model config's DiffusionSampler section)")
        self.recipe = {key: recipe[key] for key in RECIPE_KEYS}
        if clip is not None and (not isinstance(clip, dict) or "type" not in clip):
            raise ValueError("Counterfactual: clip must be an image extractor spec with a 'type', e.g. dict(type="
                             "'CLIPScoreFeatures', checkpoint=<local open_clip weights>, model_name='ViT-B-32', "
                             f"tag='openai'), got {clip!r}")
        self.clip_spec = None if clip is None else dict(clip)
        self.clip_facts: dict[str, Any] | None = None
        if int(num_queries) <= 0 or int(k) <= 0:
            raise ValueError(f"Counterfactual: num_queries and k must be positive, got {num_queries} and {k}")
        self.attribution_spec, self.model = dict(attribution), str(model)
        self.k, self.num_queries, self.query_seed = int(k), int(num_queries), int(query_seed)
        self.sampler = dict(sampler or {"type": "DDPMScheduler"})
        self.num_inference_steps, self.random_seed = int(num_inference_steps), int(random_seed)
        self.artefact_dir, self.keep_models = artefact_dir, bool(keep_models)
        self.artefact_path: Path | None = None
        self.artefact: Any = None
        self._l2: dict[str, np.ndarray] | None = None  # every per-query column: l2_* and, with clip, clip_*
        self._positions: dict[str, int] = {}

    # -- queries and generation ----------------------------------------------------------------------------------
    def query_ids(self) -> list[str]:
        """``GenerationRequests``' ids of the queries."""
        return [f"{i:06d}" for i in range(self.num_queries)]

    def query_seeds(self) -> list[int]:
        from bench.seeding import sample_seed

        return [sample_seed(self.query_seed, sample_id) for sample_id in self.query_ids()]

    def generate(self, unet: torch.nn.Module, scheduler: Any, seeds: list[int], device: torch.device) -> torch.Tensor:
        """Images [B, C, H, W] in [0, 1] of ``unet`` with the configured sampler (built on ``scheduler``'s noise
        schedule, as ``DiffusionSampler`` builds it on a model folder's)."""
        from bench.methods.diffusion.adapter import build_scheduler, sample_images
        from bench.tasks.attribution.counterfactual import to_unit_range

        sampler = build_scheduler(self.sampler, dict(scheduler.config))
        with torch.no_grad():
            return to_unit_range(sample_images(unet, sampler, self.num_inference_steps, seeds, device))

    # -- train stage ---------------------------------------------------------------------------------------------
    def artefact_folder(self, work_dir: str | Path) -> Path:
        if self.artefact_dir is None:
            return Path(work_dir) / ARTEFACT_DIR
        from bench.results import results_root

        folder = Path(self.artefact_dir).expanduser()
        return folder if folder.is_absolute() else results_root() / folder

    def _attribution(self) -> Any:
        from bench.methods.das.adapter import DataAttribution

        spec = {key: value for key, value in self.attribution_spec.items() if key not in ("type", *RECIPE_KEYS)}
        return DataAttribution(**{**spec, "model": self.model})

    def _check_recipe(self, train_cfg: dict[str, Any]) -> None:
        """The retraining recipe must be the full model's (its ``training.json``), or removal is not the only
        change."""
        from bench.io import read_json

        path = Path(self.model) / "training.json"
        if not path.is_file():
            return  # a model trained elsewhere: its recipe is not recorded, the config's is used
        recorded = {key: value for key, value in read_json(path).items() if key != "checkpoint"}
        train_cfg = json.loads(json.dumps(train_cfg))  # tuples as the JSON file holds them
        differing = sorted(key for key in set(recorded) | set(train_cfg) if recorded.get(key) != train_cfg.get(key))
        if differing:
            raise ValueError(f"Counterfactual: the train section differs from the full model's recipe ({path}) in "
                             f"{differing}; retrain with the recipe the model was trained with (give the same "
                             "train section as its config)")

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Score the generated queries, create (or reopen) the edits artefact and fill its missing entries; return
        its folder."""
        from bench.io import atomic_write_json, read_json, sha256_json
        from bench.methods.das.retrain import train_seeded
        from bench.tasks.attribution.counterfactual import (RANDOM_KIND, CounterfactualEdits, random_removals,
                                                            retrain_without, top_k_removals)

        self._check_recipe(train_cfg)
        seed = int(train_cfg.pop("seed", 0))
        attribution = self._attribution()
        attribution.setup(device)
        if attribution.train_fingerprint != str(train_set.fingerprint()):
            raise ValueError(f"Counterfactual: the train section's dataset is not the attribution's training set "
                             f"({attribution.train_set_spec}); the removed positions index that set: give the same")
        seeds = self.query_seeds()
        originals = self.generate(attribution.unet, attribution.scheduler, seeds, device)
        scores = attribution.predict({"image": originals}, torch.tensor(seeds))["scores"].numpy()
        removals = {attribution.method: top_k_removals(scores, self.k),
                    RANDOM_KIND: random_removals(len(seeds), len(train_set), self.k, self.random_seed)}
        unet_config, scheduler_config = (self.recipe[key] for key in RECIPE_KEYS)
        recipe = {"trainer": "bench.methods.das.retrain.train_seeded", "unet": unet_config,
                  "scheduler": scheduler_config, "train": train_cfg, "sampler": self.sampler,
                  "num_inference_steps": self.num_inference_steps}
        folder = self.artefact_folder(work_dir)
        artefact = CounterfactualEdits.create(
            folder, originals=originals.numpy(), query_ids=self.query_ids(), query_seeds=seeds, removals=removals,
            num_train=len(train_set), train_fingerprint=str(train_set.fingerprint()),
            training_config_sha256=sha256_json(recipe), random_seed=self.random_seed, train_seed=seed)

        def train_model(subset: Any, entry_seed: int, entry: Path) -> tuple[torch.nn.Module, Any]:
            return train_seeded(unet_config, scheduler_config, subset, entry_seed, entry, device, resume=resume,
                                **train_cfg)

        def generate(unet: torch.nn.Module, scheduler: Any, noise_seed: int) -> torch.Tensor:
            return self.generate(unet, scheduler, [noise_seed], device)[0]

        summary = retrain_without(artefact, train_set, train_model, generate, Path(work_dir) / ENTRIES_DIR,
                                  kinds=list(removals), keep_models=self.keep_models)
        path = Path(work_dir) / SUMMARY_FILE
        if summary["trained"]:  # a rerun on a complete artefact keeps the timings of the runs that trained
            trained = (read_json(path).get("trained", []) if path.is_file() else []) + summary["trained"]
            atomic_write_json(path, {"artefact": str(folder), "trained": trained, "remaining": summary["remaining"],
                                     "scores": scores.tolist(), "lambda": attribution.lam,
                                     "total_seconds": round(sum(entry["seconds"] for entry in trained), 3)})
        return folder

    def use_checkpoint(self, path: str | Path) -> None:
        self.artefact_path = Path(path)

    # -- eval stage ----------------------------------------------------------------------------------------------
    def setup(self, device: torch.device, seed: int = 0) -> None:
        """Open the edits and compute each query's L2 per removal kind (an incomplete artefact is a StoreError)."""
        from bench.tasks.attribution.counterfactual import RANDOM_KIND, CounterfactualEdits

        if self.artefact_path is None:
            raise RuntimeError("Counterfactual: no artefact; run the config's train stage (bench run/train) first")
        self.artefact = CounterfactualEdits.open(self.artefact_path)
        kind = str(self.attribution_spec.get("method", "das1"))  # DataAttribution's default method
        if kind not in self.artefact.kinds or RANDOM_KIND not in self.artefact.kinds:
            raise ValueError(f"Counterfactual: {self.artefact_path} holds removal kinds {self.artefact.kinds}, not "
                             f"{kind!r} and {RANDOM_KIND!r}; run the train stage of this config (it adds them)")
        self._l2 = {"l2_topk": self.artefact.l2(kind), "l2_random": self.artefact.l2(RANDOM_KIND)}
        if self.clip_spec is not None:
            from bench.registry import EXTRACTORS
            from bench.tasks.generation.exports import dataset_images_uint8

            extractor = EXTRACTORS.build(dict(self.clip_spec)).to(device)

            def embed(images: np.ndarray) -> torch.Tensor:
                return extractor(dataset_images_uint8(torch.from_numpy(images)))["pool"]
            self._l2.update(clip_topk=self.artefact.similarity(kind, embed),
                            clip_random=self.artefact.similarity(RANDOM_KIND, embed))
            self.clip_facts = extractor.describe()
        self._positions = {sample_id: q for q, sample_id in enumerate(self.artefact.query_ids)}

    def setup_untrained(self, device: torch.device, seed: int = 0) -> None:
        """``bench validate`` before the train stage: no edits exist, :meth:`predict` answers NaN of the right
        shape."""
        self._l2, self._positions = None, {}

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        ids = [str(i) for i in batch["sample_id"]]
        if self._l2 is None:
            names = ("l2_topk", "l2_random") + (("clip_topk", "clip_random") if self.clip_spec is not None else ())
            return {name: torch.full((len(ids),), float("nan"), dtype=torch.float64) for name in names}
        unknown = [i for i in ids if i not in self._positions]
        if unknown:
            raise ValueError(f"Counterfactual: {len(unknown)} rows are not queries of {self.artefact_path} (first: "
                             f"{unknown[:5]}); evaluate on GenerationRequests(num_samples={len(self._positions)})")
        where = [self._positions[i] for i in ids]
        return {name: torch.from_numpy(values[where]) for name, values in self._l2.items()}

    def provenance(self) -> dict[str, Any]:
        facts = {**super().provenance(), "model": self.model, "k": self.k, "sampler": self.sampler,
                 "num_inference_steps": self.num_inference_steps, "random_seed": self.random_seed,
                 "clip_similarity": self.clip_facts or (
                     "configured (measured in the eval stage)" if self.clip_spec is not None else
                     "not measured (clip not configured; not applicable to 8x8 digits: no CLIP model for them)")}
        if self.artefact is not None:
            manifest = self.artefact.manifest
            facts["artefact"] = {"folder": str(self.artefact_path), "kinds": manifest["kinds"],
                                 "random_seed": manifest["random_seed"], "train_seed": manifest["train_seed"],
                                 "query_seeds": manifest["query_seeds"]}
        return facts
