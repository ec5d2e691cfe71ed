"""``DataAttribution``: TRAK, D-TRAK and DAS as a method adapter of the ``data_attribution`` task.

``setup`` loads a diffusers DDPM folder (``model_index.json`` + ``unet/`` + ``scheduler/``, or a bare model folder),
computes (or resumes, or reads) the projected gradient features of the training set through
:class:`~bench.methods.das.features.FeatureStore`, the per-sample residuals the ``das*`` scores need, builds the ridge
kernel once and fixes λ; ``predict`` scores a batch of query images against every training sample
(:func:`~bench.methods.das.scores.attribution_scores`). ``fit`` trains the full-data DDPM with the demo recipe
(:func:`bench.methods.diffusion.training.train_ddpm`), so a config can bring its own model.

``pipeline="stable_diffusion"`` attributes a LoRA fine-tune of a local Stable Diffusion folder instead (D-TRAK's
ArtBench setting, :mod:`~bench.methods.das.latent_model`): images are VAE-encoded, each item's ``caption`` is the
prompt, and the gradients are taken w.r.t. the LoRA parameters only. Its ``fit`` trains those adapters on the
training set (:func:`bench.methods.das.lora_train.train_lora`, D-TRAK's ``train_text_to_image_lora.py`` recipe), and
the train stage's LoRA folder becomes ``lora_weights``.

λ: a fixed ``lam``, or ``lambda_selection``: the λ of :data:`~bench.methods.das.scores.LAMBDA_GRID` with the best
LDS on a HELD-OUT query set (its retrained losses and its images), labelled ``selected on held-out queries``; its
optional ``test`` entry also records the best LDS over the grid on the evaluation queries themselves, labelled
``selected on test, as published`` (the official code's protocol; optimistic, never used to score).

``compression=dict(top=1000, extractor=<EXTRACTORS spec>)``: the paper's dataset compression
(:mod:`~bench.methods.das.compression`): per query only the ``top`` training samples closest in CLIP embedding are
scored, the others get 0; the training set's embeddings are computed once and cached beside the features.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.method import Method
from bench.registry import DATASETS, METHODS
from bench.store import Columns
from bench.suggest import suggest

# the model-output function each method's code uses (sheet §3, §9): TRAK the training loss, D-TRAK ‖ε_θ‖²/d
# (``mean-squared-l2-norm``), DAS the mean of ε_θ (its README's ``--loss_function_type mean``)
DEFAULT_OUTPUT = {"trak": "mse", "dtrak": "mean-squared-l2-norm", "das1": "mean", "das1_sq": "mean",
                  "das0": "mean", "das0_sq": "mean"}
# the official scripts' batch sizes, whose noise pattern repeats (features module docstring): DAS 03_grad.sh 16,
# D-TRAK run_grad.sh 52 (TRAK and D-TRAK features both come from D-TRAK's script)
DEFAULT_NOISE_BATCH = {"trak": 52, "dtrak": 52}
PARAMETER_CHOICES = ("all", "lora")
PIPELINES = ("ddpm", "stable_diffusion")
SELECTION_KEYS = ("retrained_losses", "query_set", "queries", "exclude", "match", "grid", "test")
RESIDUAL_FORMAT = 1  # bump when train_residuals changes


def _fingerprint(dataset: Any) -> str:
    return str(dataset.fingerprint())


def _image_loader(dataset: Any, where: str) -> Callable[[int, int], torch.Tensor]:
    """``load(start, stop)``: the dataset's ``image`` items [stop − start, C, H, W] (floats in [0, 1])."""
    def load(start: int, stop: int) -> torch.Tensor:
        images = [dataset[i]["image"] for i in range(start, stop)]
        if not images or not all(isinstance(x, torch.Tensor) and x.ndim == 3 for x in images):
            raise ValueError(f"DataAttribution: {where} items must carry 'image' float tensors [C, H, W] in [0, 1] "
                             f"(got {type(images[0]).__name__ if images else 'no items'})")
        return torch.stack([x.float() for x in images])
    return load


def _captions(items: Any, count: int, where: str) -> list[str]:
    """The ``caption`` of each item (the prompt a text-conditional model is attributed under)."""
    captions = list(items) if items is not None else []
    if len(captions) != count or not all(isinstance(c, str) for c in captions):
        raise ValueError(f"DataAttribution: {where} items must carry a 'caption' string each for "
                         "pipeline='stable_diffusion' (e.g. ArtBench's 'a {style} painting')")
    return captions


class _Rows:
    """A dataset restricted to the positions whose sample ids are not in ``exclude`` (a disjoint held-out split)."""

    def __init__(self, dataset: Any, keep: list[int]) -> None:
        self.dataset, self.keep = dataset, keep

    def __len__(self) -> int:
        return len(self.keep)

    def __getitem__(self, position: int) -> Any:
        return self.dataset[self.keep[position]]

    def sample_id(self, position: int) -> str:
        return str(self.dataset.sample_id(self.keep[position]))

    def fingerprint(self) -> str:
        from bench.io import sha256_json

        return sha256_json([self.dataset.fingerprint(), [self.sample_id(i) for i in range(len(self))]])


@METHODS.register_module()
class DataAttribution(Method):
    """Attribution scores of every training sample for each query image: ``scores`` float32 [N] (training-set order,
    positive = supports the query) and ``lambda`` (the ridge term used).

    Args:
        train_set: the training set's dataset config (its order is the scores' order and the artefact's).
        model: a diffusers DDPM folder (pipeline or bare ``UNet2DModel`` folder); or ``unet_config`` (UNet2DModel
            kwargs) with ``train_scheduler`` (DDPMScheduler kwargs) for a model the config's train stage fits.
        method: ``trak``, ``dtrak``, ``das1``, ``das1_sq``, ``das0`` (leverage, fixed) or ``das0_sq``.
        output: the model-output function (default per method, :data:`DEFAULT_OUTPUT`).
        num_timesteps, timestep_strategy: the attribution timesteps (``uniform`` 10 → 0, 100, …, 900).
        normalize: per-t L2 normalisation of the gradients (default: DAS yes, TRAK / D-TRAK no, as their codes).
        k, projector_seed, proj_type, projector_backend: TRAK's projector (``auto``: CUDA one where fast_jl is).
        lam / lambda_selection: a fixed λ, or ``dict(retrained_losses=<folder>, query_set=<name>, queries=<dataset
            config of those queries>, exclude=<dataset config whose ids are dropped from them>, match="sample_id" |
            "index", grid=LAMBDA_GRID, test=dict(query_set=..., queries=..., retrained_losses=...))``.
        e_seed, noise_batch: the noise of timestep t is seeded ``e_seed·1000 + t``, repeating every ``noise_batch``.
        parameters: ``all`` trainable parameters or ``lora`` adapters only (a UNet with peft LoRA layers; the
            default and the only choice for ``stable_diffusion``).
        pipeline: ``ddpm`` (an unconditional pixel UNet2DModel) or ``stable_diffusion`` (``model`` a local SD folder,
            LoRA adapters of rank ``lora_rank`` loaded from ``lora_weights``, or seeded by ``lora_seed`` when None).
        residual_timesteps: timesteps of the DAS residual r_i (the code: all 1000).
        feature_cache: folder of the feature stores (default ``<results root>/attribution_features``).
        chunk_size, batch_size: samples per resumable chunk and per vmap call.
        compression: ``dict(top=1000, extractor=dict(type="CLIPScoreFeatures", checkpoint=..., model_name=
            "ViT-B-32", tag="openai"))``: score only each query's ``top`` CLIP-nearest training samples, 0 for the
            rest (:mod:`~bench.methods.das.compression`; λ selection scores its held-out queries the same way).
    """

    # ``pipeline`` and ``lora_rank`` say what ``fit`` trains, so they key the train folder; ``lora_seed`` is only the
    # initialisation used without weights (a trained LoRA is initialised from the train section's seed)
    eval_only_params = ("train_set", "method", "output", "num_timesteps", "timestep_strategy", "normalize", "k",
                        "projector_seed", "proj_type", "projector_backend", "lam", "lambda_selection", "e_seed",
                        "noise_batch", "parameters", "residual_timesteps", "feature_cache", "chunk_size",
                        "batch_size", "lora_weights", "lora_seed", "compression")

    def __init__(self, train_set: dict[str, Any], model: str | None = None, unet_config: dict[str, Any] | None = None,
                 train_scheduler: dict[str, Any] | None = None, method: str = "das1", output: str | None = None,
                 num_timesteps: int = 10, timestep_strategy: str = "uniform", normalize: bool | None = None,
                 k: int = 4096, projector_seed: int = 42, proj_type: str = "normal", projector_backend: str = "auto",
                 lam: float | None = None, lambda_selection: dict[str, Any] | None = None, e_seed: int = 0,
                 noise_batch: int | None = None, parameters: str | None = None, residual_timesteps: int = 1000,
                 feature_cache: str | None = None, chunk_size: int = 1000, batch_size: int = 16,
                 pipeline: str = "ddpm", lora_weights: str | None = None, lora_rank: int = 128, lora_seed: int = 0,
                 compression: dict[str, Any] | None = None, smoke_reason: str | None = None) -> None:
        from bench.methods.das.features import FeatureSettings
        from bench.methods.das.scores import SCORE_METHODS

        if method not in SCORE_METHODS:
            raise ValueError(f"DataAttribution: method {method!r} is not one of {list(SCORE_METHODS)}."
                             + suggest(str(method), SCORE_METHODS))
        if (model is None) == (unet_config is None):
            raise ValueError("DataAttribution: give exactly one of 'model' (a diffusers DDPM folder) and "
                             "'unet_config' (a UNet2DModel config that the train stage fits)")
        if (lam is None) == (lambda_selection is None):
            raise ValueError("DataAttribution: give exactly one of 'lam' (a fixed ridge term) and 'lambda_selection' "
                             "(dict(retrained_losses=..., query_set=..., queries=<dataset config>): λ chosen by LDS "
                             "on held-out queries)")
        if pipeline not in PIPELINES:
            raise ValueError(f"DataAttribution: pipeline must be one of {list(PIPELINES)}, got {pipeline!r}."
                             + suggest(str(pipeline), PIPELINES))
        latent = pipeline == "stable_diffusion"
        parameters = parameters or ("lora" if latent else "all")
        if parameters not in PARAMETER_CHOICES:
            raise ValueError(f"DataAttribution: parameters must be one of {list(PARAMETER_CHOICES)}, got "
                             f"{parameters!r}")
        if latent and (parameters != "lora" or model is None):
            raise ValueError("DataAttribution: pipeline='stable_diffusion' attributes a LoRA fine-tune of a local "
                             "Stable Diffusion folder: give model=<SD folder> (no unet_config) and parameters='lora' "
                             f"(got model={model!r}, parameters={parameters!r})")
        if not latent and lora_weights is not None:
            raise ValueError("DataAttribution: lora_weights is for pipeline='stable_diffusion'; a DDPM folder carries "
                             "its own weights")
        if not isinstance(train_set, dict) or "type" not in train_set:
            raise ValueError("DataAttribution: train_set must be a dataset config dict with a 'type' (the training "
                             f"set the model was trained on), got {train_set!r}")
        if lambda_selection is not None:
            _check_selection(lambda_selection, "lambda_selection")
        from bench.methods.das.compression import check_compression

        self.compression = None if compression is None else check_compression(compression)
        self.lam = None if lam is None else float(lam)
        if self.lam is not None and not (math.isfinite(self.lam) and self.lam > 0):
            raise ValueError(f"DataAttribution: lam must be a finite λ > 0, got {lam!r}")
        self.method, self.output = method, output or DEFAULT_OUTPUT[method]
        self.settings = FeatureSettings(
            output=self.output, timestep_strategy=timestep_strategy, num_timesteps=int(num_timesteps),
            e_seed=int(e_seed), normalize=method.startswith("das") if normalize is None else bool(normalize),
            k=int(k), projector_seed=int(projector_seed), proj_type=proj_type,
            noise_batch=int(noise_batch or DEFAULT_NOISE_BATCH.get(method, 16)))
        self.train_set_spec, self.model = dict(train_set), model
        self.unet_config = dict(unet_config) if unet_config else None
        self.train_scheduler = dict(train_scheduler or {"num_train_timesteps": 1000, "beta_schedule": "linear",
                                                        "beta_start": 1e-4, "beta_end": 0.02})
        self.selection = dict(lambda_selection) if lambda_selection is not None else None
        self.parameters, self.residual_timesteps = parameters, int(residual_timesteps)
        self.projector_backend = projector_backend
        self.pipeline, self.lora_weights = pipeline, lora_weights
        self.lora_rank, self.lora_seed = int(lora_rank), int(lora_seed)
        self.latent_model: Any = None
        self.encoders_sha256 = ""
        self.feature_cache = feature_cache
        self.chunk_size, self.batch_size = int(chunk_size), int(batch_size)
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.unet: Any = None
        self.scheduler: Any = None
        self.store: Any = None
        self.kernel: Any = None
        self.residuals: torch.Tensor | None = None
        self.clip: Any = None  # the compression's image extractor
        self.train_embeddings: torch.Tensor | None = None
        self.embedding_facts: dict[str, Any] = {}
        self.device = torch.device("cpu")
        self.facts: dict[str, Any] = {}
        self.lambda_facts: dict[str, Any] = {}
        self.train_fingerprint = ""

    # ------------------------------------------------------------------------------------------------ setup
    def _cache_dir(self) -> Path:
        from bench.results import results_root

        return Path(self.feature_cache) if self.feature_cache else results_root() / "attribution_features"

    def _selector(self) -> Any:
        from bench.methods.das.features import lora_only

        return lora_only if self.parameters == "lora" else None

    def _data_key(self, dataset: Any) -> str:
        """The dataset's fingerprint, with the VAE / text encoder that encode it for a latent model."""
        from bench.io import sha256_json

        if self.latent_model is None:
            return _fingerprint(dataset)
        return sha256_json([_fingerprint(dataset), self.encoders_sha256])

    def _loader(self, dataset: Any, where: str) -> Callable[[int, int], Any]:
        """``load(start, stop)`` of the model's inputs: images in [0, 1], or for a latent model their
        :class:`~bench.methods.das.features.LatentBatch` (VAE latents and caption embeddings)."""
        images = _image_loader(dataset, where)
        if self.latent_model is None:
            return images

        def load(start: int, stop: int) -> Any:
            from bench.methods.das.features import LatentBatch

            parts = []  # encoded batch_size images at a time: the VAE's activations at 256 px are large
            for a in range(start, stop, self.batch_size):
                b = min(a + self.batch_size, stop)
                parts.append(self._encode(images(a, b), _captions([dataset[i].get("caption") for i in range(a, b)],
                                                                  b - a, where)))
            return LatentBatch(torch.cat([part.latents for part in parts]),
                               torch.cat([part.encoder_hidden_states for part in parts]))
        return load

    def _encode(self, images: torch.Tensor, captions: list[str]) -> Any:
        from bench.methods.das.features import encode_latent_batch

        model = self.latent_model
        return encode_latent_batch(model.vae, model.tokenizer, model.text_encoder, images, captions)

    def _store(self, dataset: Any) -> Any:
        from bench.methods.das.features import FeatureStore

        return FeatureStore(self._cache_dir(), self.unet, self.scheduler, self.settings,
                            dataset_fingerprint=self._data_key(dataset), num_samples=len(dataset),
                            parameters=self._selector(), chunk_size=self.chunk_size, batch_size=self.batch_size,
                            projector_backend=self.projector_backend)

    def load_model(self, device: torch.device) -> None:
        """The UNet (eval mode, on ``device``) and its DDPMScheduler from ``model`` (for ``stable_diffusion`` the
        LoRA-adapted UNet, with the VAE and text encoder that encode its inputs)."""
        from diffusers import DDPMScheduler

        from bench.methods.diffusion.unet import load_scheduler_config, load_unet

        if self.model is None:
            raise RuntimeError("DataAttribution: no weights; run the config's train stage (bench run/train) first")
        if self.pipeline == "stable_diffusion":
            from bench.methods.das.latent_model import load_latent_model

            model = load_latent_model(self.model, self.lora_weights, lora_rank=self.lora_rank,
                                      lora_seed=self.lora_seed)
            for part in (model.unet, model.vae, model.text_encoder):
                part.to(device)
            self.latent_model, self.facts = model, model.facts
            self.unet, self.scheduler = model.unet, model.scheduler
            self.encoders_sha256 = model.encoders_sha256()
            return
        self.unet, self.facts = load_unet(self.model)
        self.unet.to(device).eval()
        self.scheduler = DDPMScheduler.from_config(load_scheduler_config(self.model))

    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.das.scores import RidgeKernel

        self.device = device
        if self.compression is not None:  # first: a missing checkpoint fails before the features are computed
            from bench.registry import EXTRACTORS

            self.clip = EXTRACTORS.build(dict(self.compression["extractor"])).to(device)
        self.load_model(device)
        train_set = DATASETS.build(self.train_set_spec)
        if len(train_set) == 0:
            raise ValueError(f"DataAttribution: the training set {self.train_set_spec} is empty")
        self.store = self._store(train_set)
        features = self.store.compute(self._loader(train_set, "train_set"))
        if self.method.startswith("das"):
            self.residuals = self._residuals(train_set)
        self.kernel = RidgeKernel(np.asarray(features))
        self.train_fingerprint = _fingerprint(train_set)
        if self.compression is not None:
            self.train_embeddings = self._train_embeddings(train_set)
        if self.selection is not None:
            self._select_lambda()

    def setup_untrained(self, device: torch.device, seed: int = 0) -> None:
        """``bench validate`` before the train stage: the untrained UNet the stage starts from, saved to a temporary
        folder and attributed like a trained one (features of an untrained model, never cached); for
        ``stable_diffusion`` the SD folder with LoRA adapters at their seeded initialisation."""
        import shutil
        import tempfile

        from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

        if self.pipeline == "stable_diffusion":
            self._setup_untrained_lora(device, seed)
            return
        if self.unet_config is None:
            self.setup(device, seed)
            return
        folder = Path(tempfile.mkdtemp(prefix="das-untrained-"))
        pipeline: Any = DDPMPipeline(unet=UNet2DModel(**self.unet_config),
                                     scheduler=DDPMScheduler(**self.train_scheduler))
        pipeline.save_pretrained(folder)
        saved = (self.model, self.feature_cache, self.selection)
        self.model, self.feature_cache = str(folder), str(folder / "features")
        if self.selection is not None:  # the held-out ground truth may not exist before the train stage
            self.selection, self.lam = None, 1.0  # λ = 1 (a grid value): validation checks shapes, not LDS
        try:
            self.setup(device, seed)
        finally:
            self.model, self.feature_cache, self.selection = saved  # λ stays: predict of the validation batch uses it
            shutil.rmtree(folder, ignore_errors=True)  # the open memmap stays readable until released

    def _setup_untrained_lora(self, device: torch.device, seed: int) -> None:
        """:meth:`setup_untrained` of ``stable_diffusion``: no LoRA weights (the adapters as ``lora_seed`` initialises
        them), features in a temporary cache, λ = 1 instead of a selection whose ground truth may not exist yet."""
        import shutil
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="das-untrained-lora-"))
        saved = (self.lora_weights, self.feature_cache, self.selection)
        self.lora_weights, self.feature_cache = None, str(folder / "features")
        if self.selection is not None:
            self.selection, self.lam = None, 1.0
        try:
            self.setup(device, seed)
        finally:
            self.lora_weights, self.feature_cache, self.selection = saved
            shutil.rmtree(folder, ignore_errors=True)

    def _cached(self, kind: str, identity: dict[str, Any], rows: int,
                compute: Callable[[], np.ndarray]) -> torch.Tensor:
        """``compute()`` once per ``identity``, kept as ``<cache>/<kind>/<sha256 of identity>/<kind>.npy`` (float32,
        one row per training sample) beside the features; one writer under a lock, another rank waits, then reads."""
        from bench.io import atomic_write_json, atomic_writer, sha256_json
        from bench.runlock import run_lock
        from bench.safe_pickle import load_npy

        folder = self._cache_dir() / kind / sha256_json(identity)
        path = folder / f"{kind}.npy"
        with run_lock(folder, what=f"DAS {kind}", wait=True):
            if path.is_file():
                values = load_npy(path, allow_object=False)
                if values.ndim >= 1 and len(values) == rows and np.isfinite(values).all():
                    return torch.from_numpy(np.asarray(values, dtype=np.float32))
            values = np.asarray(compute(), dtype=np.float32)
            with atomic_writer(path) as handle:
                np.save(handle, values)
            atomic_write_json(folder / "settings.json", identity)
        return torch.from_numpy(values)

    def _residuals(self, train_set: Any) -> torch.Tensor:
        """DAS's r [N] (:func:`~bench.methods.das.features.train_residuals`), cached beside the features under a key
        of the model, the data and the residual settings."""
        from bench.methods.das.features import train_residuals

        identity = {"format": RESIDUAL_FORMAT, "model_sha256": self.store.identity["model_sha256"],
                    "scheduler": self.store.identity["scheduler"], "dataset_fingerprint": self._data_key(train_set),
                    "timesteps": self.residual_timesteps, "e_seed": self.settings.e_seed, "noise_batch": 256}

        def compute() -> np.ndarray:
            images = self._loader(train_set, "train_set")(0, len(train_set))
            return train_residuals(self.unet, self.scheduler, images, num_timesteps=self.residual_timesteps,
                                   e_seed=self.settings.e_seed, noise_batch=256).numpy()
        return self._cached("residuals", identity, len(train_set), compute)

    def _train_embeddings(self, train_set: Any) -> torch.Tensor:
        """The compression extractor's embeddings [N, D] of the training images, computed once per extractor
        (its ``describe()``: weights sha256, preprocessing) and training set, cached beside the features."""
        from bench.io import sha256_json
        from bench.methods.das.compression import EMBEDDING_FORMAT, embed_images

        assert self.clip is not None
        described = {key: value for key, value in self.clip.describe().items() if key != "weights"}  # path: sha
        identity = {"format": EMBEDDING_FORMAT, "extractor": described,
                    "dataset_fingerprint": _fingerprint(train_set), "num_samples": len(train_set)}
        load = _image_loader(train_set, "train_set")
        embeddings = self._cached("clip_embeddings", identity, len(train_set),
                                  lambda: embed_images(self.clip, load, len(train_set)).numpy())
        self.embedding_facts = {"extractor": described, "key": sha256_json(identity),
                                "num_train": len(train_set), "dim": int(embeddings.shape[1])}
        return embeddings

    def _candidates(self, load: Callable[[int, int], torch.Tensor], count: int) -> torch.Tensor | None:
        """Dataset compression: each of ``count`` query images' ``top`` CLIP-nearest training positions [count, top]
        (None without compression); ``load(start, stop)``: the images, floats [B, C, H, W] in [0, 1]."""
        from bench.methods.das.compression import clip_candidates, embed_images

        if self.compression is None:
            return None
        assert self.train_embeddings is not None, "setup() was not called"
        queries = embed_images(self.clip, load, count)
        return clip_candidates(queries, self.train_embeddings, self.compression["top"])

    # ------------------------------------------------------------------------------------------------ λ
    def _query_lds(self, spec: dict[str, Any], where: str
                   ) -> tuple[torch.Tensor, torch.Tensor | None, Callable[[torch.Tensor], float]]:
        """The features of a selection query set, its compression candidates (None without) and scores → its LDS
        (%), against its retrained losses."""
        from bench.tasks.attribution.ground_truth import RetrainedLosses
        from bench.tasks.attribution.lds import linear_datamodel_score, lds_summary

        artefact = RetrainedLosses.open(spec["retrained_losses"])
        if artefact.manifest["train_fingerprint"] != self.train_fingerprint:
            raise ValueError(f"{where}: the retrained losses in {artefact.folder} were computed for another training "
                             f"set (fingerprint {artefact.manifest['train_fingerprint'][:12]}…, ours "
                             f"{self.train_fingerprint[:12]}…); use the artefact of train_set {self.train_set_spec}")
        queries = DATASETS.build(spec["queries"])
        if spec.get("exclude"):
            excluded = DATASETS.build(spec["exclude"])
            dropped = {str(excluded.sample_id(i)) for i in range(len(excluded))}
            queries = _Rows(queries, [i for i in range(len(queries)) if str(queries.sample_id(i)) not in dropped])
        if len(queries) == 0:
            raise ValueError(f"{where}: no query is left in {spec['queries']} (after exclude)")
        if spec.get("match", "sample_id") == "index":
            columns = np.arange(len(queries))
            if len(queries) > len(artefact.query_ids(spec["query_set"])):
                raise ValueError(f"{where}: {len(queries)} queries but the artefact's query set "
                                 f"{spec['query_set']!r} holds {len(artefact.query_ids(spec['query_set']))}")
        else:
            where_id = {sid: j for j, sid in enumerate(artefact.query_ids(spec["query_set"]))}
            ids = [str(queries.sample_id(i)) for i in range(len(queries))]
            unknown = [sid for sid in ids if sid not in where_id]
            if unknown:
                raise ValueError(f"{where}: {len(unknown)} queries of {spec['queries']} have no losses in "
                                 f"{artefact.folder} query set {spec['query_set']!r} (first: {unknown[:3]}); the "
                                 "ground truth must evaluate these queries")
            columns = np.asarray([where_id[sid] for sid in ids])
        losses = artefact.mean_losses(spec["query_set"])[:, columns]
        masks = artefact.masks()
        features = torch.as_tensor(np.asarray(self._store(queries).compute(self._loader(queries, where))))
        candidates = self._candidates(_image_loader(queries, where), len(queries))

        def lds(scores: torch.Tensor) -> float:
            return lds_summary(linear_datamodel_score(scores.cpu().numpy(), masks, losses))["LDS"]
        return features, candidates, lds

    def _select_lambda(self) -> None:
        from bench.methods.das.scores import LAMBDA_GRID, attribution_scores, best_over_grid, select_lambda

        assert self.selection is not None
        grid = tuple(float(v) for v in self.selection.get("grid", LAMBDA_GRID))

        def scorer(features: torch.Tensor, candidates: torch.Tensor | None) -> Callable[[float], torch.Tensor]:
            return lambda lam: attribution_scores(features, self.kernel.features, self.method, lam, self.residuals,
                                                  kernel=self.kernel, candidates=candidates)

        heldout, heldout_candidates, heldout_lds = self._query_lds(self.selection, "lambda_selection")
        chosen = select_lambda(scorer(heldout, heldout_candidates), grid, heldout_lds)
        self.lam = chosen.lam
        self.lambda_facts = {"selected": {"lambda": chosen.lam, "LDS": chosen.metric, "label": chosen.label,
                                          "query_set": self.selection["query_set"],
                                          "num_queries": int(len(heldout)),
                                          "table": [list(row) for row in chosen.table]}}
        test = self.selection.get("test")
        if test:
            spec = {"retrained_losses": self.selection["retrained_losses"], **dict(test)}
            features, candidates, test_lds = self._query_lds(spec, "lambda_selection.test")
            best = best_over_grid(scorer(features, candidates), grid, test_lds)
            self.lambda_facts["best_over_grid"] = {
                "lambda": best.lam, "LDS": best.metric, "label": best.label, "query_set": spec["query_set"],
                "num_queries": int(len(features)), "table": [list(row) for row in best.table]}

    # ------------------------------------------------------------------------------------------------ scoring
    def query_features(self, images: Any, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Projected features [B, k] of query images (or their ``LatentBatch``), computed as the training set's
        (same settings, timesteps, noise rows by dataset position, projector)."""
        from bench.methods.das.features import LatentBatch, per_sample_features

        assert self.store is not None, "setup() was not called"
        with torch.inference_mode(False), torch.enable_grad():  # the runner predicts under inference_mode
            # clones are ordinary tensors (the inputs may be inference tensors, which autograd refuses)
            images = images.clone() if isinstance(images, torch.Tensor) else \
                LatentBatch(images.latents.clone(), images.encoder_hidden_states.clone())
            positions = None if positions is None else positions.clone()
            grads = per_sample_features(
                self.unet, self.scheduler, images, timesteps=self.store.timesteps, output=self.settings.output,
                e_seed=self.settings.e_seed, normalize=self.settings.normalize, parameters=self._selector(),
                chunk=self.batch_size, noise_batch=self.settings.noise_batch, positions=positions)
            return self.store.projector.project(grads).cpu()

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        from bench.methods.das.scores import attribution_scores

        assert self.kernel is not None and self.lam is not None, "setup() was not called"
        positions = batch.get("index")
        images = batch["image"].float()
        candidates = self._candidates(lambda start, stop: images[start:stop], len(images))
        if self.latent_model is not None:
            images = self._encode(images, _captions(batch.get("caption"), len(images), "the query"))
        features = self.query_features(images, None if positions is None else torch.as_tensor(positions))
        scores = attribution_scores(features, self.kernel.features, self.method, self.lam, self.residuals,
                                    kernel=self.kernel, candidates=candidates)
        return {"scores": scores.float().cpu(), "lambda": torch.full((len(scores),), self.lam, dtype=torch.float64)}

    # ------------------------------------------------------------------------------------------------ training
    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Train the full-data DDPM of ``unet_config`` (:func:`~bench.methods.diffusion.training.train_ddpm`) and
        return its pipeline folder; for ``stable_diffusion`` the LoRA adapters of ``model``
        (:func:`~bench.methods.das.lora_train.train_lora`, the train section's keys are its recipe's) and return
        their folder."""
        from bench.methods.diffusion.training import train_ddpm

        if self.pipeline == "stable_diffusion":
            from bench.methods.das.lora_train import train_lora

            assert self.model is not None  # checked in __init__
            return train_lora(self.model, train_set, Path(work_dir), device, resume=resume, lora_rank=self.lora_rank,
                              **train_cfg)
        if self.unet_config is None:
            raise ValueError("DataAttribution: 'fit' needs 'unet_config' (a given DDPM folder is not trained here) "
                             "or pipeline='stable_diffusion' (whose LoRA adapters it trains); remove the 'train' "
                             "section to attribute the given model")
        return train_ddpm(self.unet_config, self.train_scheduler, train_set, Path(work_dir), device, resume=resume,
                          **train_cfg)

    def use_checkpoint(self, path: str | Path) -> None:
        """The train stage's product: a DDPM folder, or for ``stable_diffusion`` the LoRA folder (the SD folder
        stays ``model``)."""
        if self.pipeline == "stable_diffusion":
            self.lora_weights = str(path)
        else:
            self.model = str(path)

    def fitted_values(self) -> dict[str, float]:
        """λ used, the held-out LDS that chose it and, when asked, the best LDS over the grid on the evaluation
        queries (``selected on test, as published``)."""
        values: dict[str, float] = {"lambda": float(self.lam)} if self.lam is not None else {}
        if "selected" in self.lambda_facts:
            values["LDS_heldout"] = float(self.lambda_facts["selected"]["LDS"])
        if "best_over_grid" in self.lambda_facts:
            values["LDS_best_over_grid"] = float(self.lambda_facts["best_over_grid"]["LDS"])
            values["lambda_best_over_grid"] = float(self.lambda_facts["best_over_grid"]["lambda"])
        return values

    def provenance(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {**super().provenance(), "model": self.facts, "method": self.method, "train_set": self.train_set_spec,
                "settings": asdict(self.settings), "parameters": self.parameters, "pipeline": self.pipeline,
                "residual_timesteps": self.residual_timesteps if self.method.startswith("das") else None,
                "features": self.store.describe() if self.store is not None else None,
                "lambda": self.lam, "lambda_selection": self.lambda_facts or "fixed",
                "compression": None if self.compression is None else {
                    "top": self.compression["top"], "non_candidate_score": 0.0, "embeddings": self.embedding_facts}}


def _check_selection(spec: Any, where: str) -> None:
    """``lambda_selection`` names its ground truth, the held-out query set and the images of those queries."""
    if not isinstance(spec, dict):
        raise ValueError(f"DataAttribution: {where} must be a dict, got {type(spec).__name__}")
    unknown = sorted(set(spec) - set(SELECTION_KEYS))
    if unknown:
        raise ValueError(f"DataAttribution: {where} has unknown key(s) {unknown}; the keys are "
                         f"{', '.join(SELECTION_KEYS)}" + suggest(unknown[0], SELECTION_KEYS))
    missing = [key for key in ("retrained_losses", "query_set", "queries") if not spec.get(key)]
    if missing:
        raise ValueError(f"DataAttribution: {where} needs {missing}: retrained_losses (a RetrainedLosses folder), "
                         "query_set (its held-out query set) and queries (the dataset config of those query images)")
    if spec.get("match", "sample_id") not in ("sample_id", "index"):
        raise ValueError(f"DataAttribution: {where}.match must be 'sample_id' or 'index', got {spec['match']!r}")
    test = spec.get("test")
    if test is not None and (not isinstance(test, dict) or not test.get("query_set") or not test.get("queries")):
        raise ValueError(f"DataAttribution: {where}.test must be dict(query_set=..., queries=<dataset config>) (the "
                         "evaluation queries, for the best-over-grid number as published)")
