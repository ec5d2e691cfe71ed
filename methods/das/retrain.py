"""The LDS ground truth as a train stage: ``LDSGroundTruth.fit`` retrains a DDPM on each random training subset and
stores its query losses in a :class:`bench.tasks.attribution.ground_truth.RetrainedLosses` folder, the product every
attribution method's LDS is scored against.

D-TRAK's benchmark (``sail-sg/D-TRAK`` ``CIFAR2/scripts/lds-val``; Jinxu-Lin/DAS ``CIFAR2/05_train.py`` the same)
trains one model per (subset, seed) with the full model's recipe and evaluates it with ``eval_unconditional.py``;
here the recipe is :func:`bench.methods.diffusion.training.train_ddpm` and the evaluation is
:func:`bench.tasks.attribution.ground_truth.diffusion_losses`, entry by entry through
:func:`bench.tasks.attribution.retrain.retrain_subsets` (resumable; ``subsets`` and ``artefact_dir`` let the workers
of a ``bench sweep`` share one artefact). Only the query sets given are filled: generated queries ("gen") are a
generation run's images read back by :class:`bench.datasets.generation.GeneratedImages` (an upstream ``run``
product, as ``configs/demo/full/das_0_groundtruth.py`` declares it).

``pipeline="stable_diffusion"`` is D-TRAK's ArtBench ground truth (``ArtBench2/scripts/run_lds_val_sub.sh``, then
``run_eval_lds_val_sub.sh``): per subset and seed the LoRA adapters of a local Stable Diffusion folder are trained
afresh by :func:`bench.methods.das.lora_train.fit_lora` (adapters initialised from the entry's seed, the base weights
untouched), and each query's loss is the latent diffusion loss under its caption (``eval_text_to_image_lora.py``:
VAE ``latent_dist.mode() · scaling_factor``, the prompt embedded by the text encoder), averaged over the protocol's
timesteps with noise seeded per timestep, as for pixel models.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.method import Method
from bench.registry import METHODS
from bench.store import Columns
from bench.suggest import suggest

ARTEFACT_DIR = "retrained_losses"  # under the train stage's work_dir unless ``artefact_dir`` is given
ENTRIES_DIR = "entries"  # per-entry training folders, under the train stage's work_dir
SUMMARY_FILE = "retrain_summary.json"


def train_seeded(unet_config: dict[str, Any], scheduler_config: dict[str, Any], subset: Any, seed: int, entry: Path,
                 device: torch.device, *, resume: bool = True, image_key: str = "image",
                 **train_cfg: Any) -> tuple[torch.nn.Module, Any]:
    """One retrained model with the full model's recipe: ``train_ddpm`` in ``entry`` (resumes its epochs) after
    seeding everything with ``seed`` (model init, then the loss's timesteps and noise, as the train stage seeds the
    full model), loaded back as ``(unet on device, DDPMScheduler)``."""
    from diffusers import DDPMScheduler

    from bench.methods.diffusion.training import train_ddpm
    from bench.methods.diffusion.unet import load_unet
    from bench.seeding import seed_everything

    seed_everything(seed)
    folder = train_ddpm(unet_config, scheduler_config, subset, entry, device, resume=resume, image_key=image_key,
                        seed=seed, **train_cfg)
    unet, _ = load_unet(folder)
    return unet.to(device), DDPMScheduler(**scheduler_config)


@METHODS.register_module()
class LDSGroundTruth(Method):
    """Train stage: fill the retrained-losses artefact of ``num_subsets`` subsets × ``seeds``; eval stage (the dataset
    is one query set): per query, ``loss_mean`` and ``loss_std`` of the retrained losses across subsets (seeds
    averaged first; std with ddof=1): how much a query's loss moves with the training subset, the signal the LDS
    ranks.

    Args:
        unet: ``UNet2DModel`` kwargs of every retrained model (``pipeline="ddpm"``).
        scheduler: ``DDPMScheduler`` kwargs (the training noise schedule, also the loss protocol's; ``ddpm`` only:
            a Stable Diffusion folder brings its own).
        pipeline: ``ddpm`` (pixel UNet2DModels trained by ``train_ddpm``) or ``stable_diffusion`` (LoRA adapters of
            rank ``lora_rank`` on the UNet of the local SD folder ``model``, trained by ``fit_lora``; the queries'
            items carry a ``caption``).
        query_sets: name (``val``, ``gen``) -> dataset config of the queries whose losses the artefact holds.
        num_subsets, alpha, subset_seed, stratify_key: the subsets, :func:`bench.tasks.attribution.subsets.
            sample_subsets` with the training items' ``stratify_key`` as labels (None: not stratified);
            ``subset_seed`` 42 is D-TRAK's ``lds-val`` group.
        seeds: the training seeds of each subset (model init, timesteps and noise of the training loss, shuffling).
        protocol: how an entry's losses are computed (``timesteps``: all of ``range(timesteps)``, default the
            scheduler's ``num_train_timesteps``; ``noise_seeds``; ``batch_size``): see ``RetrainedLosses.create``.
        subsets: train only these subsets (an int or a list), so sweep workers split the entries; needs
            ``artefact_dir``, the folder they share.
        artefact_dir: the artefact's folder (relative paths are under the results root, ``$BENCH_RESULTS_DIR``, so
            every worker of a sweep resolves the same folder); default ``<train work_dir>/retrained_losses``.
        keep_models: keep each retrained model's folder (``<work_dir>/entries/subset-<k>-seed-<s>/model``).
        query_set: the artefact's query set the eval stage's dataset serves.
        image_key: the item key of the images (float [C, H, W] in [0, 1]) in the training and query datasets.

    The train section's settings (``epochs``, ``batch_size``, ``lr``, ...) go to ``train_ddpm`` (``fit_lora``: the
    keys of :data:`bench.methods.das.lora_train.LORA_RECIPE`) for every subset model; its ``seed`` is not used (the
    entries' seeds are ``seeds``).
    """

    eval_only_params = ("query_set",)

    def __init__(self, query_sets: dict[str, dict[str, Any]], unet: dict[str, Any] | None = None,
                 scheduler: dict[str, Any] | None = None, num_subsets: int = 64, alpha: float = 0.5,
                 subset_seed: int = 42, seeds: Sequence[int] = (0,), stratify_key: str | None = "target",
                 protocol: dict[str, Any] | None = None, subsets: int | Sequence[int] | None = None,
                 artefact_dir: str | None = None, keep_models: bool = False, query_set: str = "val",
                 image_key: str = "image", pipeline: str = "ddpm", model: str | None = None,
                 lora_rank: int = 128) -> None:
        if not query_sets or not all(isinstance(spec, dict) and "type" in spec for spec in query_sets.values()):
            raise ValueError("LDSGroundTruth: query_sets must map a name to a dataset config, e.g. "
                             "dict(val=dict(type='Digits2', split='val'))")
        if subsets is not None and artefact_dir is None:
            raise ValueError("LDSGroundTruth: 'subsets' trains part of the artefact; set 'artefact_dir' to the folder "
                             "the other workers share (e.g. method.artefact_dir=lds/digits2), or drop 'subsets'")
        if pipeline not in ("ddpm", "stable_diffusion"):
            raise ValueError(f"LDSGroundTruth: pipeline must be 'ddpm' or 'stable_diffusion', got {pipeline!r}."
                             + suggest(str(pipeline), ("ddpm", "stable_diffusion")))
        if pipeline == "ddpm" and (unet is None or scheduler is None or model is not None):
            raise ValueError("LDSGroundTruth: pipeline='ddpm' retrains UNet2DModels: give 'unet' (UNet2DModel "
                             "kwargs) and 'scheduler' (DDPMScheduler kwargs), and no 'model'")
        if pipeline == "stable_diffusion" and (model is None or unet is not None or scheduler is not None):
            raise ValueError("LDSGroundTruth: pipeline='stable_diffusion' retrains LoRA adapters of a local Stable "
                             "Diffusion folder: give 'model' (the folder, e.g. checkpoints/das/miniSD-diffusers) and "
                             "neither 'unet' nor 'scheduler' (the folder has both)")
        self.pipeline, self.model, self.lora_rank = pipeline, model, int(lora_rank)
        self.unet_config, self.scheduler_config = dict(unet or {}), dict(scheduler or {})
        self.query_set_specs = {str(name): dict(spec) for name, spec in query_sets.items()}
        self.num_subsets, self.alpha, self.subset_seed = int(num_subsets), float(alpha), int(subset_seed)
        self.seeds, self.stratify_key = [int(s) for s in seeds], stratify_key
        # an SD folder's schedule is read when training starts (fit checks it); D-TRAK's miniSD has 1000 timesteps
        timesteps = int(self.scheduler_config.get("num_train_timesteps", 1000))
        self.protocol = {"timesteps": timesteps, **dict(protocol or {})}
        if not 1 <= int(self.protocol["timesteps"]) <= timesteps:
            raise ValueError(f"LDSGroundTruth: protocol.timesteps must be in 1..{timesteps} (the scheduler's "
                             f"num_train_timesteps), got {self.protocol['timesteps']}")
        self.subsets = None if subsets is None else [int(subsets)] if isinstance(subsets, int) else \
            [int(s) for s in subsets]
        self.artefact_dir, self.keep_models = artefact_dir, bool(keep_models)
        self.query_set, self.image_key = query_set, image_key
        self.artefact: Any = None
        self.artefact_path: Path | None = None
        self._positions: dict[str, int] = {}
        self._spread: tuple[np.ndarray, np.ndarray] | None = None

    # -- train stage ---------------------------------------------------------------------------------------------
    def artefact_folder(self, work_dir: str | Path) -> Path:
        """The artefact's folder for a train stage in ``work_dir``."""
        if self.artefact_dir is None:
            return Path(work_dir) / ARTEFACT_DIR
        from bench.results import results_root

        folder = Path(self.artefact_dir).expanduser()
        return folder if folder.is_absolute() else results_root() / folder

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Create (or reopen) the artefact and train its missing entries (this run's ``subsets``); return its
        folder. A complete artefact returns at once; a partial one resumes; one made for other subsets, seeds,
        training set, training settings or queries is a :class:`bench.store.StoreError` naming what differs."""
        from bench.io import sha256_json
        from bench.registry import DATASETS
        from bench.tasks.attribution.ground_truth import RetrainedLosses
        from bench.tasks.attribution.retrain import retrain_subsets
        from bench.tasks.attribution.subsets import sample_subsets

        train_cfg.pop("seed", None)  # the entries' seeds are ``seeds``
        if not hasattr(train_set, "fingerprint"):
            raise ValueError(f"LDSGroundTruth: the training set ({type(train_set).__name__}) has no fingerprint(); "
                             "give a bench dataset (the artefact records which training set its subsets index)")
        labels = None
        if self.stratify_key is not None:
            if self.stratify_key not in train_set[0]:
                raise ValueError(f"LDSGroundTruth: stratify_key {self.stratify_key!r} is not a key of the training "
                                 f"items (they hold {sorted(train_set[0])}); name the label key, or set "
                                 "stratify_key=None for unstratified subsets")
            labels = np.asarray([int(train_set[i][self.stratify_key]) for i in range(len(train_set))])
        masks = sample_subsets(len(train_set), self.num_subsets, self.alpha, self.subset_seed, labels=labels)
        query_sets = {name: DATASETS.build(dict(spec)) for name, spec in self.query_set_specs.items()}
        records = {name: {"sample_ids": [dataset.sample_id(i) for i in range(len(dataset))],
                          "fingerprint": dataset.fingerprint()} for name, dataset in query_sets.items()}
        training = {"trainer": "bench.methods.diffusion.training.train_ddpm", "unet": self.unet_config,
                    "scheduler": self.scheduler_config, "train": train_cfg, "image_key": self.image_key,
                    "subset_seed": self.subset_seed, "stratify_key": self.stratify_key}
        inputs = None
        if self.pipeline == "stable_diffusion":
            training, inputs = self._latent_setup(train_cfg, device)
            training.update(image_key=self.image_key, subset_seed=self.subset_seed, stratify_key=self.stratify_key)
        folder = self.artefact_folder(work_dir)
        artefact = RetrainedLosses.create(folder, masks=masks, seeds=self.seeds, alpha=self.alpha,
                                          train_fingerprint=train_set.fingerprint(), query_sets=records,
                                          training_config_sha256=sha256_json(training), protocol=self.protocol)

        def train_model(subset: Any, seed: int, entry: Path) -> tuple[torch.nn.Module, Any]:
            return self._train_one(subset, seed, entry, device, resume, train_cfg)

        summary = retrain_subsets(artefact, train_set, query_sets, train_model, Path(work_dir) / ENTRIES_DIR,
                                  subsets=self.subsets, keep_models=self.keep_models, image_key=self.image_key,
                                  inputs=inputs)
        if summary["trained"]:  # a rerun on a complete artefact keeps the timings of the runs that trained
            self._record(Path(work_dir) / SUMMARY_FILE, folder, summary)
        return folder

    @staticmethod
    def _record(path: Path, folder: Path, summary: dict[str, Any]) -> None:
        """Add this call's trained entries (and their seconds) to ``retrain_summary.json``."""
        from bench.io import atomic_write_json, read_json

        trained = (read_json(path).get("trained", []) if path.is_file() else []) + summary["trained"]
        means = {f"mean_{key}": round(float(np.mean([entry[key] for entry in trained])), 4)
                 for key in ("seconds", "train_seconds", "loss_seconds")}
        atomic_write_json(path, {"artefact": str(folder), "trained": trained, "remaining": summary["remaining"],
                                 "total_seconds": round(sum(entry["seconds"] for entry in trained), 3), **means})

    def _latent_setup(self, train_cfg: dict[str, Any], device: torch.device,
                      ) -> tuple[dict[str, Any], Callable[[Any, list[int]], Any]]:
        """For ``stable_diffusion``: what the artefact's training hash records (the SD folder's file hashes, the
        LoRA rank, the full recipe) and the queries' inputs (VAE latents and caption embeddings, encoded once)."""
        from bench.io import sha256_json
        from bench.methods.das.features import encode_latent_batch
        from bench.methods.das.latent_model import load_latent_model
        from bench.methods.das.lora_train import lora_recipe

        recipe = {k: v for k, v in lora_recipe(train_cfg).items() if k != "seed"}  # the entries' seeds are `seeds`
        encoder = load_latent_model(str(self.model), lora_rank=self.lora_rank)
        steps = int(encoder.scheduler.config.num_train_timesteps)
        if int(self.protocol["timesteps"]) > steps:
            raise ValueError(f"LDSGroundTruth: protocol.timesteps is {self.protocol['timesteps']} but the scheduler "
                             f"of {self.model} has {steps} timesteps; set protocol.timesteps <= {steps}")
        encoder.vae.to(device)
        encoder.text_encoder.to(device)

        def inputs(dataset: Any, positions: list[int]) -> Any:
            from bench.methods.das.features import LatentBatch

            parts = []
            for start in range(0, len(positions), 16):  # the VAE's activations at 256 px are large
                items = [dataset[i] for i in positions[start:start + 16]]
                captions = [item.get("caption") for item in items]
                if not all(isinstance(c, str) for c in captions):
                    raise ValueError(f"LDSGroundTruth: the query items of {type(dataset).__name__} must carry a "
                                     "'caption' string for pipeline='stable_diffusion' (ArtBench: 'a {style} "
                                     "painting')")
                images = torch.stack([torch.as_tensor(item[self.image_key]).float() for item in items])
                with torch.no_grad():
                    parts.append(encode_latent_batch(encoder.vae, encoder.tokenizer, encoder.text_encoder, images,
                                                     captions))
            return LatentBatch(torch.cat([p.latents for p in parts]),
                               torch.cat([p.encoder_hidden_states for p in parts]))

        training = {"trainer": "bench.methods.das.lora_train.fit_lora",
                    "model_sha256": sha256_json(encoder.facts["sha256"]), "lora_rank": self.lora_rank,
                    "train": recipe}
        return training, inputs

    def _train_one(self, subset: Any, seed: int, entry: Path, device: torch.device, resume: bool,
                   train_cfg: dict[str, Any]) -> tuple[torch.nn.Module, Any]:
        if self.pipeline == "stable_diffusion":
            from bench.methods.das.latent_model import load_latent_model
            from bench.methods.das.lora_train import fit_lora
            from bench.seeding import seed_everything

            seed_everything(seed)
            model = load_latent_model(str(self.model), lora_rank=self.lora_rank, lora_seed=seed)
            fit_lora(model, subset, entry, device, resume=resume, image_key=self.image_key, **train_cfg, seed=seed)
            return model.unet.to(device).eval(), model.scheduler
        return train_seeded(self.unet_config, self.scheduler_config, subset, seed, entry, device, resume=resume,
                            image_key=self.image_key, **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        self.artefact_path = Path(path)

    # -- eval stage ----------------------------------------------------------------------------------------------
    def setup(self, device: torch.device, seed: int = 0) -> None:
        """Open the artefact and compute every query's spread; an incomplete artefact is a StoreError naming the
        missing entries (a spread over fewer subsets would be another number)."""
        from bench.tasks.attribution.ground_truth import RetrainedLosses

        if self.artefact_path is None:
            raise RuntimeError("LDSGroundTruth: no artefact; run the config's train stage (bench run/train) first")
        self.artefact = RetrainedLosses.open(self.artefact_path)
        losses = self.artefact.mean_losses(self.query_set)  # [S, Q]; refuses while entries are missing
        self._positions = {sample_id: q for q, sample_id in enumerate(self.artefact.query_ids(self.query_set))}
        std = losses.std(axis=0, ddof=1) if len(losses) > 1 else np.full(losses.shape[1], np.nan)
        self._spread = losses.mean(axis=0), std

    def setup_untrained(self, device: torch.device, seed: int = 0) -> None:
        """``bench validate`` before the train stage: no losses exist yet, so :meth:`predict` answers NaN of the
        right shape (validate checks shapes only; a run always trains first). A ``stable_diffusion`` ground truth
        checks that its SD folder is a complete pipeline (the error names the folder and the missing part)."""
        if self.pipeline == "stable_diffusion":
            from bench.methods.diffusion.stable_diffusion import check_layout

            check_layout(str(self.model))
        self._spread, self._positions = None, {}

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        ids = [str(i) for i in batch["sample_id"]]
        if self._spread is None:
            nan = torch.full((len(ids),), float("nan"), dtype=torch.float64)
            return {"loss_mean": nan, "loss_std": nan.clone()}
        unknown = [i for i in ids if i not in self._positions]
        if unknown:
            raise ValueError(f"LDSGroundTruth: {len(unknown)} samples are not queries of set {self.query_set!r} in "
                             f"{self.artefact_path} (first: {unknown[:5]}); evaluate on that query set's dataset "
                             "or set method.query_set")
        where = [self._positions[i] for i in ids]
        mean, std = self._spread
        return {"loss_mean": torch.from_numpy(mean[where]), "loss_std": torch.from_numpy(std[where])}

    def provenance(self) -> dict[str, Any]:
        from bench.io import read_json

        facts = {**super().provenance(), "query_set": self.query_set, "pipeline": self.pipeline}
        if self.artefact is not None:
            facts["retrained_losses"] = self.artefact.describe(self.query_set)
            facts["protocol"] = self.artefact.manifest["protocol"]
        summary = self.artefact_path.parent / SUMMARY_FILE if self.artefact_path is not None else None
        if summary is not None and summary.is_file() and self.artefact_dir is None:
            facts["retrain_summary"] = read_json(summary)
        return facts
