"""Ground truth of the LDS benchmark: each retrained model's diffusion loss per query, and the versioned folder
that holds those losses for every (subset, training seed) so any attribution method can be scored against them.

:func:`diffusion_losses` is D-TRAK's ``eval_unconditional.py`` (Jinxu-Lin/DAS ``04_eval.py`` is the same; for
ArtBench's text-conditional LoRA ``eval_text_to_image_lora.py``, on VAE latents and caption embeddings): per query,
the ε-MSE averaged over all 1000 timesteps, with the noise of timestep ``t`` drawn after seeding with
``noise_seed · 1000 + t`` (the script's ``set_seeds(e_seed*1000+t)`` before ``randn_like``). The benchmark averages
the result over 3 noise seeds and 3 training seeds.

:class:`RetrainedLosses` is the artefact (one folder)::

    manifest.json           format and version, α, subsets' sha256, number of subsets, training seeds, training-set
                            fingerprint, training config hash, the ground-truth protocol, per query set its
                            fingerprint and size
    subsets.npy             bool [S, N]: training samples in each subset, training-set order
    queries/<set>.json      the query set's sample ids, in the order of the loss columns
    losses/<set>.npy        float64 [S, seeds, Q]: one retrained model's losses per (subset, seed); NaN = not yet
                            computed

Each (subset, seed) entry is written under the folder's lock by an atomic replace of the file, so a sweep of
retrainings (one process per subset, on any number of nodes sharing the folder) fills it in any order and a killed
one loses nothing already written; :meth:`RetrainedLosses.complete` tells which entries exist.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.io import atomic_write_json, atomic_writer, read_json, sha256_json
from bench.store import StoreError

FORMAT = "bench.retrained_losses"
VERSION = 1
MANIFEST = "manifest.json"
#: how :meth:`RetrainedLosses.write_model` computes an entry, unless ``create`` is given another ``protocol``: all 1000
#: timesteps and D-TRAK's evaluation batch size; D-TRAK averages noise seeds 0, 1 and 2
DEFAULT_PROTOCOL: dict[str, Any] = {"timesteps": 1000, "noise_seeds": [0], "batch_size": 256}
_LAYOUT = ("a RetrainedLosses folder holds manifest.json, subsets.npy, queries/<set>.json and losses/<set>.npy; "
           "create one with bench.tasks.attribution.ground_truth.RetrainedLosses.create or import D-TRAK's outputs "
           "with bench.tasks.attribution.dtrak_import.import_dtrak_losses")


def diffusion_losses(unet: torch.nn.Module, scheduler: Any, images: Any, *, timesteps: Iterable[int] = range(1000),
                     noise_seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """float64 [Q]: each image's ε-prediction MSE (mean over pixels) averaged over ``timesteps``.

    Args:
        unet: a diffusers ``UNet2DModel`` (or any ``unet(x_t, t).sample``); run in eval mode without gradients, on
            its own device, and left in the mode it was in.
        scheduler: a diffusers ``DDPMScheduler`` (``add_noise``; its ``prediction_type`` picks the target ε or v).
        images: float [Q, C, H, W] in [0, 1] (mapped to [−1, 1] as ``2x − 1``, like the training loss) or uint8
            [Q, H, W, C]; or, for a text-conditional latent model (D-TRAK's ArtBench LoRA, its
            ``eval_text_to_image_lora.py``), an object with ``latents`` [Q, C, h, w] (x0 already in the model's space,
            e.g. VAE ``latent_dist.mode() · scaling_factor``) and ``encoder_hidden_states`` [Q, L, D] (each query's
            prompt embedding, passed to ``unet(x_t, t, encoder_hidden_states=...)``), such as
            ``bench.methods.das.features.LatentBatch``.
        timesteps: the timesteps averaged over; the benchmark uses all 1000.
        noise_seed: the script's ``e_seed``: before each batch's draw at timestep ``t`` a CPU generator is seeded with
            ``noise_seed · 1000 + t`` (the script seeds the global RNG and draws on the GPU; drawing on the CPU makes
            the numbers independent of the device).
        batch_size: as in the script, every batch restarts the draw from that seed, so query ``i``'s noise depends
            on its position in its batch: the losses depend on ``batch_size`` (D-TRAK evaluates with 256).
    """
    from bench.tasks.generation.neighbours import images_to_model_range

    conditioning = getattr(images, "encoder_hidden_states", None)
    if conditioning is not None:
        x0_all = torch.as_tensor(images.latents).float()
        if len(conditioning) != len(x0_all):
            raise ValueError(f"diffusion_losses: {len(x0_all)} latents but {len(conditioning)} encoder_hidden_states")
    else:
        x0_all = images_to_model_range(torch.as_tensor(images), "diffusion_losses")
    steps = [int(t) for t in timesteps]
    if not steps or batch_size < 1:
        raise ValueError(f"diffusion_losses: need at least one timestep and batch_size >= 1, got {len(steps)} "
                         f"timesteps and batch_size={batch_size}")
    prediction = scheduler.config.prediction_type
    if prediction not in ("epsilon", "v_prediction"):
        raise ValueError(f"diffusion_losses: the scheduler's prediction_type must be 'epsilon' or 'v_prediction', "
                         f"got {prediction!r}")
    device = next(unet.parameters()).device
    was_training = unet.training
    unet.eval()
    totals = torch.zeros(len(x0_all), dtype=torch.float64)
    try:
        with torch.no_grad():
            for start in range(0, len(x0_all), batch_size):
                x0 = x0_all[start:start + batch_size].to(device)
                for t in steps:
                    generator = torch.Generator().manual_seed(noise_seed * 1000 + t)
                    noise = torch.randn(x0.shape, generator=generator).to(device)
                    t_batch = torch.full((len(x0),), t, dtype=torch.long, device=device)
                    noisy = scheduler.add_noise(x0, noise, t_batch)
                    target = noise if prediction == "epsilon" else scheduler.get_velocity(x0, noise, t_batch)
                    extra = {} if conditioning is None else \
                        {"encoder_hidden_states": conditioning[start:start + len(x0)].to(device)}
                    error = (unet(noisy, t_batch, **extra).sample.float() - target.float()) ** 2
                    totals[start:start + len(x0)] += error.flatten(1).mean(dim=1).double().cpu()
    finally:
        unet.train(was_training)
    return (totals / len(steps)).numpy()


def read_manifest(path: Path, format: str, version: int, what: str, layout: str, fix: str) -> dict[str, Any]:
    """An attribution artefact's ``manifest.json`` (retrained losses, counterfactual edits): FileNotFoundError when
    it is missing, StoreError when it is not a ``what`` manifest of ``format`` or has another ``version`` (``fix``
    says what to do); ``layout`` describes the folder in both messages."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; {layout}")
    manifest = read_json(path)
    if not isinstance(manifest, dict) or manifest.get("format") != format:
        raise StoreError(f"{path}: not a {what} manifest (format {format!r} expected); {layout}")
    if manifest.get("version") != version:
        raise StoreError(f"{path}: format version {manifest.get('version')!r}, but this bench reads version "
                         f"{version}; {fix}")
    return manifest


def masks_sha256(masks: np.ndarray) -> str:
    """sha256 of bool masks [S, N] (shape and bits): names the subsets the losses belong to."""
    masks = np.ascontiguousarray(masks, dtype=bool)
    digest = hashlib.sha256(f"{masks.shape[0]}x{masks.shape[1]}:".encode())
    digest.update(np.packbits(masks, axis=None).tobytes())
    return digest.hexdigest()


class RetrainedLosses:
    """The losses of models retrained on LDS subsets (module docstring): :meth:`create` or :meth:`open` a folder,
    :meth:`write` one (subset, seed) entry, :meth:`mean_losses` for scoring once :meth:`complete`."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder, self.manifest = folder, manifest
        self._masks: np.ndarray | None = None

    # -- creating and opening ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: str | Path, *, masks: Any, seeds: Sequence[int], alpha: float, train_fingerprint: str,
               query_sets: Mapping[str, Mapping[str, Any]], training_config_sha256: str,
               protocol: Mapping[str, Any] | None = None) -> RetrainedLosses:
        """A new artefact with every loss NaN, or the existing one in ``folder`` when its manifest is the same (the
        resume of a sweep); a different manifest there is a :class:`bench.store.StoreError` naming the keys.

        ``query_sets`` maps a name (``val``, ``gen``) to ``dict(sample_ids=[...], fingerprint=...)`` (fingerprint:
        the query reader's; default the sha256 of the ids). ``protocol`` says how an entry's losses are computed
        (:func:`diffusion_losses` over ``range(timesteps)`` at ``batch_size``, averaged over ``noise_seeds``); keys
        not given take :data:`DEFAULT_PROTOCOL`'s values."""
        folder = Path(folder)
        masks = np.asarray(masks)
        if masks.dtype != bool or masks.ndim != 2:
            raise ValueError(f"RetrainedLosses.create: masks must be bool [subsets, train], got {masks.dtype} "
                             f"{masks.shape}")
        seeds = [int(s) for s in seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"RetrainedLosses.create: seeds must be distinct and non-empty, got {seeds}")
        ids: dict[str, list[str]] = {}
        records: dict[str, Any] = {}
        for name, spec in query_sets.items():
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"RetrainedLosses.create: query set name {name!r} must be a plain file name")
            ids[name] = [str(i) for i in spec["sample_ids"]]
            if not ids[name] or len(set(ids[name])) != len(ids[name]):
                raise ValueError(f"RetrainedLosses.create: query set {name!r} needs distinct sample ids, got "
                                 f"{len(ids[name])} ids, {len(set(ids[name]))} distinct")
            records[name] = {"fingerprint": str(spec.get("fingerprint") or sha256_json(ids[name])),
                             "num_queries": len(ids[name]), "sample_ids_sha256": sha256_json(ids[name])}
        manifest = {"format": FORMAT, "version": VERSION, "alpha": float(alpha), "num_subsets": int(masks.shape[0]),
                    "num_train": int(masks.shape[1]), "subsets_sha256": masks_sha256(masks), "seeds": seeds,
                    "train_fingerprint": str(train_fingerprint), "training_config_sha256": str(training_config_sha256),
                    "protocol": json.loads(json.dumps({**DEFAULT_PROTOCOL, **dict(protocol or {})})),
                    "query_sets": records}
        from bench.runlock import run_lock

        with run_lock(folder, what="retrained-losses writer", wait=True):  # two sweep workers may create at once
            if (folder / MANIFEST).is_file():
                existing = cls.open(folder)
                differing = sorted(key for key in set(manifest) | set(existing.manifest)
                                   if existing.manifest.get(key) != manifest.get(key))
                if differing:
                    raise StoreError(f"{folder / MANIFEST}: the folder holds retrained losses for another setting "
                                     f"(different {', '.join(differing)}); use another folder, or delete this one to "
                                     "start afresh (its losses are then lost)")
                return existing
            with atomic_writer(folder / "subsets.npy") as handle:
                np.save(handle, masks)
            for name in ids:
                atomic_write_json(folder / "queries" / f"{name}.json", ids[name])
                nan = np.full((masks.shape[0], len(seeds), len(ids[name])), np.nan, dtype=np.float64)
                with atomic_writer(folder / "losses" / f"{name}.npy") as handle:
                    np.save(handle, nan)
            atomic_write_json(folder / MANIFEST, manifest)  # last: a folder without it is not an artefact
        return cls(folder, manifest)

    @classmethod
    def open(cls, folder: str | Path) -> RetrainedLosses:
        """The artefact in ``folder``; FileNotFoundError or :class:`bench.store.StoreError` naming the file, what
        was expected and the fix."""
        folder = Path(folder)
        return cls(folder, read_manifest(folder / MANIFEST, FORMAT, VERSION, "retrained-losses", _LAYOUT,
                                         "re-create or re-import the artefact with this bench"))

    # -- reading -----------------------------------------------------------------------------------------------
    @property
    def seeds(self) -> list[int]:
        return list(self.manifest["seeds"])

    @property
    def query_sets(self) -> list[str]:
        return list(self.manifest["query_sets"])

    def _query_record(self, query_set: str) -> dict[str, Any]:
        if query_set not in self.manifest["query_sets"]:
            raise ValueError(f"{self.folder / MANIFEST}: no query set {query_set!r}; it holds "
                             f"{', '.join(self.query_sets)}")
        return dict(self.manifest["query_sets"][query_set])

    def _load(self, path: Path, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        from bench.safe_pickle import load_npy

        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found, the retrained-losses folder is incomplete; restore the file "
                                    f"or re-create the artefact ({_LAYOUT})")
        array = load_npy(path, allow_object=False)
        if array.shape != shape or array.dtype != np.dtype(dtype):
            raise StoreError(f"{path}: expected {np.dtype(dtype)} {list(shape)} (from {MANIFEST}), found "
                             f"{array.dtype} {list(array.shape)}; the file does not belong to this manifest: restore "
                             "it or re-create the artefact")
        return array

    def masks(self) -> np.ndarray:
        """bool [S, N]; a file whose bits differ from the manifest's hash is a StoreError."""
        if self._masks is None:
            path = self.folder / "subsets.npy"
            masks = self._load(path, (self.manifest["num_subsets"], self.manifest["num_train"]), bool)
            if masks_sha256(masks) != self.manifest["subsets_sha256"]:
                raise StoreError(f"{path}: its subsets differ from the ones the losses were computed for "
                                 f"({MANIFEST} subsets_sha256); restore the original file")
            self._masks = masks
        return self._masks

    def query_ids(self, query_set: str) -> list[str]:
        """The sample ids of ``query_set``, in the order of the loss columns."""
        record = self._query_record(query_set)
        path = self.folder / "queries" / f"{query_set}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found; restore it or re-create the artefact ({_LAYOUT})")
        ids = read_json(path)
        if not isinstance(ids, list) or sha256_json([str(i) for i in ids]) != record["sample_ids_sha256"]:
            raise StoreError(f"{path}: the ids differ from the ones recorded in {MANIFEST}; restore the file")
        return [str(i) for i in ids]

    def losses(self, query_set: str) -> np.ndarray:
        """float64 [S, seeds, Q], NaN where not computed yet."""
        record = self._query_record(query_set)
        shape = (self.manifest["num_subsets"], len(self.seeds), record["num_queries"])
        return self._load(self.folder / "losses" / f"{query_set}.npy", shape, np.float64)

    def complete(self) -> dict[str, np.ndarray]:
        """Per query set, bool [S, seeds]: which (subset, seed) entries hold losses."""
        return {name: np.isfinite(self.losses(name)).all(axis=2) for name in self.query_sets}

    def missing(self) -> list[tuple[str, int, int]]:
        """(query set, subset, seed) of every entry not computed yet (seed as in the manifest, not its position)."""
        return [(name, int(s), self.seeds[j]) for name, done in self.complete().items()
                for s, j in zip(*np.nonzero(~done), strict=True)]

    def mean_losses(self, query_set: str) -> np.ndarray:
        """float64 [S, Q]: the losses averaged over the training seeds, for scoring; a StoreError naming the missing
        entries while any is not computed (a mean over fewer seeds would be another benchmark)."""
        losses = self.losses(query_set)
        done = np.isfinite(losses).all(axis=2)
        if not done.all():
            todo = [(int(s), self.seeds[j]) for s, j in zip(*np.nonzero(~done), strict=True)]
            raise StoreError(f"{self.folder}: {len(todo)} of {done.size} (subset, seed) entries of query set "
                             f"{query_set!r} are not computed yet (first: {todo[:5]}); finish the retraining sweep "
                             "(it resumes) before scoring")
        return losses.mean(axis=1)

    # -- writing -----------------------------------------------------------------------------------------------
    def write(self, subset: int, seed: int, losses: Mapping[str, Any]) -> None:
        """Store one retrained model's losses: ``losses`` maps query sets to float [Q]. Each file is replaced
        atomically under the folder's lock, so concurrent writers of other entries lose nothing."""
        from bench.runlock import run_lock

        if seed not in self.seeds:
            raise ValueError(f"RetrainedLosses.write: seed {seed} is not one of the artefact's seeds {self.seeds}")
        if not 0 <= subset < self.manifest["num_subsets"]:
            raise ValueError(f"RetrainedLosses.write: subset {subset} is outside 0..{self.manifest['num_subsets'] - 1}")
        rows = {}
        for name, values in losses.items():
            record = self._query_record(name)
            row = np.asarray(values, dtype=np.float64)
            if row.shape != (record["num_queries"],):
                raise ValueError(f"RetrainedLosses.write: query set {name!r} has {record['num_queries']} queries, "
                                 f"got losses of shape {row.shape}")
            if not np.isfinite(row).all():
                raise ValueError(f"RetrainedLosses.write: subset {subset} seed {seed}, query set {name!r}: the losses "
                                 "hold NaN or Inf (a diverged retraining?); retrain that model instead of storing it")
            rows[name] = row
        with run_lock(self.folder, what="retrained-losses writer", wait=True):
            for name, row in rows.items():
                table = self.losses(name)
                table[subset, self.seeds.index(seed)] = row
                with atomic_writer(self.folder / "losses" / f"{name}.npy") as handle:
                    np.save(handle, table)

    def model_losses(self, unet: torch.nn.Module, scheduler: Any, images: Any) -> np.ndarray:
        """float64 [Q]: one retrained model's losses on ``images`` by the manifest's protocol (:func:`diffusion_losses`
        averaged over the protocol's noise seeds)."""
        protocol = self.manifest["protocol"]
        runs = [diffusion_losses(unet, scheduler, images, timesteps=range(int(protocol["timesteps"])),
                                 noise_seed=int(noise_seed), batch_size=int(protocol["batch_size"]))
                for noise_seed in protocol["noise_seeds"]]
        return np.mean(runs, axis=0)

    def write_model(self, subset: int, seed: int, unet: torch.nn.Module, scheduler: Any,
                    queries: Mapping[str, tuple[Sequence[Any], Any]]) -> None:
        """Compute and :meth:`write` the entry of the model retrained on ``subset`` with training ``seed``.
        ``queries`` maps each query set to ``(sample_ids, images)``; the ids must be the artefact's, in its order,
        so a reader that serves the queries in another order cannot fill the wrong columns."""
        for name, (ids, _) in queries.items():
            expected = self.query_ids(name)
            if [str(i) for i in ids] != expected:
                raise ValueError(f"RetrainedLosses.write_model: the images of query set {name!r} are not the "
                                 f"artefact's queries in its order ({self.folder / 'queries' / (name + '.json')}); "
                                 "serve them in that order")
        self.write(subset, seed, {name: self.model_losses(unet, scheduler, images)
                                  for name, (_, images) in queries.items()})

    def describe(self, query_set: str | None = None) -> dict[str, Any]:
        """What results.json records about the artefact: its folder, the manifest's hash and key facts."""
        facts = {"folder": str(self.folder), "manifest_sha256": sha256_json(self.manifest),
                 **{key: self.manifest[key] for key in ("alpha", "num_subsets", "num_train", "seeds",
                                                        "train_fingerprint", "subsets_sha256")}}
        if query_set is not None:
            facts["query_set"] = {"name": query_set, **self._query_record(query_set)}
        return facts
