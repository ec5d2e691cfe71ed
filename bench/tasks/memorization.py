"""The text-to-image memorization task (Wen et al. 2024, Bright Ending, AMG): one row per prompt, holding its
generations' detection tracks, maps and images, scored for detection, mitigation (copy similarity, CLIP score) and
localization by :mod:`bench.metrics.memorization`.

The method returns per prompt ``label`` (1 memorized) and any of: magnitude tracks (generations, steps), a map per
generation (generations, h, w), ``image`` (generations, H, W, 3) uint8 and ``prompt``. On the generating rank the
task adds what needs the images and the prompt's ground truth, so scoring never needs them again:

- ``copy_similarity`` (generations,): the ``similarity`` extractor's cosine of each generation with the prompt's
  ground-truth training images, max over them (SSCD in the papers; NaN for a prompt without GT images);
- ``clip_score`` (generations,): the ``clip`` extractor's cosine of each generation with the prompt;
- ``gt_mask`` (H, W) and ``memorization`` ("global" / "local" / "none"): the known memorized region and kind, when
  the prompt set has them (the ground-truth demo), and then ``local_copy_similarity`` (generations,): the pixel
  correlation inside the known region only (:func:`masked_correlation`, a localized similarity whose region is
  known; BE's LS formula is unpublished);
- ``nearest_train_similarity`` (generations,): with ``train_reference`` (a dataset spec whose items hold ``image``),
  the same extractor's max cosine of each generation over that whole image pool (Somepalli et al.'s nearest
  training neighbour): with a pool of ordinary training images it tells whether a mitigated generation still looks
  like the training distribution, the quality cost that CLIP score measures in the papers.

- ``feat_pool`` (generations, D): with ``fid=dict(extractor=<spec>, reference=<statistics file or dataset spec>)``,
  each generation's pooled features for FID against that reference (AMG's Tables 1 and 4 report FID); the
  ``FID`` metric reads them flattened over prompts and generations.

Images are kept in the store unless ``keep_images`` is False (500 prompts × 16 generations at 512² are 6 GB).
``write_exports`` writes each stored map as a PNG overlay on its generation (``maps/``, the localization export),
up to ``export_maps`` prompts.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.registry import EXTRACTORS, TASKS
from bench.store import Columns, SampleStore, as_outputs
from bench.tasks.base import EvalTask

GT_KEY = "_gt_images"  # batch ground truth handed from predict to featurize on the same rank, never stored


def load_gt_image(entry: Any) -> np.ndarray:
    """A ground-truth image as uint8 (H, W, 3): a PNG path (read with PIL, converted to RGB as Wen's
    ``Image.open(...).convert("RGB")``) or an array already in memory."""
    if isinstance(entry, (str, Path)):
        from PIL import Image

        with Image.open(entry) as image:
            return np.array(image.convert("RGB"))
    array = np.asarray(entry)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"a ground-truth image must be a PNG path or a uint8 (H, W, 3) array, got {array.dtype} "
                         f"{array.shape}")
    return array


@TASKS.register_module(name="text_to_image_memorization")
class TextToImageMemorizationTask(EvalTask):
    """Prompts in, per-prompt memorization signals out (module docstring). ``similarity`` and ``clip`` are
    extractor specs (``bench.registry.EXTRACTORS``, e.g. ``dict(type="SSCDFeatures", weights=...)`` and
    ``dict(type="CLIPScoreFeatures", checkpoint=...)``); without them no copy similarity / CLIP score is computed."""

    required_outputs = ("label",)
    finite_outputs = ("text_noise_norm", "masked_noise_norm", "uncond_noise_norm", "eos_map", "clip_score", "feat_pool",
                      "nearest_train_similarity")  # copy similarities are NaN for prompts without ground truth

    def __init__(self, metrics: list[dict[str, Any]] | None = None, similarity: dict[str, Any] | None = None,
                 clip: dict[str, Any] | None = None, train_reference: dict[str, Any] | None = None,
                 keep_images: bool = True, export_maps: int = 16, grid_size: int = 8,
                 fid: dict[str, Any] | None = None) -> None:
        super().__init__(metrics)
        if fid is not None and (set(fid) - {"extractor", "reference", "reference_cache"}
                                or not {"extractor", "reference"} <= set(fid)):
            raise ValueError(f"text_to_image_memorization: fid must be dict(extractor=<extractor spec>, reference="
                             f"<statistics file or dataset spec>, reference_cache=None), got keys {sorted(fid)}")
        self.fid_spec = dict(fid) if fid is not None else None
        self._fid_reference: Any = None
        self._fid_facts: dict[str, Any] = {}
        if train_reference is not None and similarity is None:
            raise ValueError("text_to_image_memorization: train_reference needs a similarity extractor (task."
                             "similarity) to compare generations with the reference images")
        self.similarity_spec, self.clip_spec, self.train_reference = similarity, clip, train_reference
        self._reference_embeddings: torch.Tensor | None = None
        self.keep_images, self.export_maps, self.grid_size = bool(keep_images), int(export_maps), int(grid_size)
        self.device: Any = "cpu"
        self._extractors: dict[str, Any] = {}

    def _extractor(self, role: str) -> Any:
        spec = {"similarity": self.similarity_spec, "clip": self.clip_spec,
                "fid": self.fid_spec["extractor"] if self.fid_spec else None}[role]
        if role not in self._extractors and spec is not None:
            self._extractors[role] = EXTRACTORS.build(dict(spec)).to(self.device)
        return self._extractors.get(role)

    def prepare(self, device: Any) -> None:
        self.device = device
        for role in ("similarity", "clip", "fid"):
            self._extractor(role)

    def predict(self, method: Any, batch: dict[str, Any], seeds: Any) -> Columns:
        outputs = method.predict(batch, seeds)
        if self.similarity_spec is not None:
            outputs[GT_KEY] = list(batch.get("gt_images") or [[] for _ in batch["prompt"]])
        if "gt_mask" in batch:
            outputs["gt_mask"] = torch.as_tensor(np.asarray(batch["gt_mask"])).to(torch.uint8)
        if "memorization" in batch:
            outputs["memorization"] = list(batch["memorization"])
        if "prompt" not in outputs:
            outputs["prompt"] = list(batch["prompt"])
        return outputs

    def featurize(self, outputs: Columns) -> Columns:
        """Copy similarity and CLIP score per generation; drops the images when they are not kept (after use)."""
        gt = outputs.pop(GT_KEY, None)
        features: Columns = {}
        images = outputs.get("image")
        if images is not None and gt is not None:
            features["copy_similarity"] = self._copy_similarity(images, gt)
            if "gt_mask" in outputs:
                features["local_copy_similarity"] = torch.stack([
                    masked_correlation(gens, refs, mask) for gens, refs, mask in zip(images, gt, outputs["gt_mask"],
                                                                                     strict=True)])
        if images is not None and self.train_reference is not None:
            pool = self._reference_pool()
            extractor = self._extractor("similarity")
            features["nearest_train_similarity"] = torch.stack([
                (extractor(gens)["pool"].float().cpu() @ pool.T).max(dim=1).values for gens in images])
        if images is not None and self.clip_spec is not None:
            clip = self._extractor("clip")
            features["clip_score"] = torch.stack([clip.score(list(gens), prompt).float().cpu()
                                                  for gens, prompt in zip(images, outputs["prompt"], strict=True)])
        if images is not None and self.fid_spec is not None:
            extractor = self._extractor("fid")
            features["feat_pool"] = torch.stack([extractor(gens)["pool"].float().cpu() for gens in images])
        if images is not None and not self.keep_images:
            outputs.pop("image")
        return features

    def fid_reference(self) -> Any:
        """The FID reference statistics of ``fid.reference`` (built or featurised once, then cached)."""
        if self._fid_reference is None and self.fid_spec is not None:
            from bench.results import results_root
            from bench.tasks.generation.reference import resolve_reference

            cache = Path(self.fid_spec.get("reference_cache") or results_root() / "references")
            self._fid_reference, self._fid_facts = resolve_reference(self.fid_spec["reference"],
                                                                     self._extractor("fid"), cache,
                                                                     need_features=False)
        return self._fid_reference

    def evaluate(self, outputs: Columns) -> dict[str, float]:
        """The metrics; the generation metrics (FID) get the reference and the features of every generation."""
        if self.fid_spec is not None and "feat_pool" in outputs:
            reference = self.fid_reference()
            for metric in self.metrics:
                if getattr(metric, "reference", False) is None:
                    metric.reference = reference  # type: ignore[attr-defined]  # the generation metrics' attribute
            features = torch.as_tensor(np.asarray(outputs["feat_pool"]))
            outputs = {**outputs, "feat_pool": features.reshape(-1, features.shape[-1])}
        return super().evaluate(outputs)

    def _reference_pool(self) -> torch.Tensor:
        """Unit-norm embeddings [R, D] of every ``train_reference`` image (computed once per process)."""
        if self._reference_embeddings is None:
            from bench.registry import DATASETS

            assert self.train_reference is not None  # featurize calls this only with a train_reference
            dataset = DATASETS.build(dict(self.train_reference))
            images = [as_uint8_image(dataset[i]["image"]) for i in range(len(dataset))]
            if not images:
                raise ValueError(f"text_to_image_memorization: train_reference {self.train_reference} is empty")
            extractor = self._extractor("similarity")
            self._reference_embeddings = torch.cat([extractor(images[i:i + 256])["pool"].float().cpu()
                                                    for i in range(0, len(images), 256)])
        return self._reference_embeddings

    def _copy_similarity(self, images: torch.Tensor, gt: list[Any]) -> torch.Tensor:
        from bench.tasks.generation.extractors.sscd import max_similarity

        extractor = self._extractor("similarity")
        rows = []
        for generations, references in zip(images, gt, strict=True):
            if not references:
                rows.append(torch.full((len(generations),), float("nan")))
                continue
            gen = extractor(generations)["pool"]
            ref = extractor([torch.from_numpy(load_gt_image(r)) for r in references])["pool"]
            rows.append(max_similarity(gen, ref)[0].float().cpu())
        return torch.stack(rows)

    def describe(self) -> dict[str, Any]:
        facts = {role: self._extractor(role).describe() for role in ("similarity", "clip", "fid")
                 if self._extractor(role) is not None}
        if self.fid_spec is not None:
            self.fid_reference()
            facts["fid_reference"] = self._fid_facts
        return facts

    def write_exports(self, outputs: Columns | SampleStore, run_dir: Path) -> dict[str, Path]:
        """``maps/<sample id>_<generation>.png``: each stored map (bilinear to the image size, matplotlib's
        ``jet``) at half opacity over its generation, for the first ``export_maps`` prompts."""
        source = as_outputs(outputs)
        stored = set(source.stored_columns() if isinstance(source, SampleStore) else source.load())
        if self.export_maps <= 0 or not {"eos_map", "image"} <= stored:
            return {}
        from bench.tasks.generation.exports import write_png

        folder = run_dir / "maps"
        block = next(source.iter_chunks(["eos_map", "image"], rows=self.export_maps))
        for sample_id, maps, images in zip(block["sample_id"], block["eos_map"], block["image"], strict=True):
            for g, (heat, image) in enumerate(zip(maps, images, strict=True)):
                write_png(folder / f"{sample_id}_{g}.png", map_overlay(image, heat))
        return {"maps": folder}

    def write_figures(self, outputs: Columns | SampleStore, directory: Path, title: str = "") -> dict[str, Path]:
        """A grid of the first generation of the first ``grid_size`` prompts, with their map overlays below when
        maps are stored."""
        source = as_outputs(outputs)
        stored = set(source.stored_columns() if isinstance(source, SampleStore) else source.load())
        if "image" not in stored:
            return {}
        from bench.tasks.generation.exports import sample_grid

        columns = ["image"] + (["eos_map"] if "eos_map" in stored else [])
        block = next(source.iter_chunks(columns, rows=self.grid_size))
        tiles = [image[0] for image in block["image"]]
        if "eos_map" in block:
            tiles += [map_overlay(image[0], heat[0]) for image, heat in zip(block["image"], block["eos_map"],
                                                                           strict=True)]
        return {"generations": sample_grid(torch.stack(tiles), directory / "generations.png")}


def masked_correlation(generations: torch.Tensor, references: list[Any], mask: torch.Tensor) -> torch.Tensor:
    """The localized similarity with a known region: per generation, the max over the ground-truth images of the
    Pearson correlation of the grey pixels inside ``mask`` (H, W) only (NaN without GT images or with a mask that is
    empty or full: then the whole-image similarity is the measure). Needs pixel-aligned images of one size."""
    inside = mask.bool().flatten()
    if not references or not bool(inside.any()) or bool(inside.all()):
        return torch.full((len(generations),), float("nan"))

    def centred(images: torch.Tensor) -> torch.Tensor:
        pixels = images.double().mean(dim=-1).flatten(1)[:, inside]
        pixels = pixels - pixels.mean(dim=1, keepdim=True)
        return pixels / pixels.norm(dim=1, keepdim=True).clamp_min(1e-12)

    gt = torch.stack([torch.from_numpy(load_gt_image(r)) for r in references])
    if gt.shape[1:3] != generations.shape[1:3] or mask.shape != generations.shape[1:3]:
        raise ValueError(f"local copy similarity needs generations, GT images and gt_mask of one size; got "
                         f"{tuple(generations.shape[1:3])}, {tuple(gt.shape[1:3])} and {tuple(mask.shape)}")
    return (centred(generations) @ centred(gt).T).max(dim=1).values.float()


def as_uint8_image(image: Any) -> torch.Tensor:
    """A dataset image as uint8 (H, W, 3): uint8 (H, W, C) kept; a float (C, H, W) tensor in [-1, 1] (a diffusion
    training item) mapped by ``(x + 1) / 2 · 255``, rounded; one channel repeated to three."""
    image = torch.as_tensor(image)
    if image.dtype != torch.uint8:
        if image.ndim != 3:
            raise ValueError(f"a reference image must be uint8 (H, W, C) or float (C, H, W), got {tuple(image.shape)}")
        image = ((image.float() + 1) / 2 * 255).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
    if image.shape[-1] == 1:
        image = image.expand(-1, -1, 3)
    return image.contiguous()


def map_overlay(image: torch.Tensor, heat: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """uint8 (H, W, 3): ``image`` blended with the map (min-max scaled, upsampled bilinearly to H × W, ``jet``)."""
    from matplotlib import colormaps

    h, w = image.shape[:2]
    m = heat.float()
    m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-12)
    m = torch.nn.functional.interpolate(m[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    colour = torch.from_numpy(colormaps["jet"](m.clamp(0, 1).numpy())[..., :3]).float() * 255
    return (image.float() * (1 - alpha) + colour * alpha).round().clamp(0, 255).to(torch.uint8)


def prompt_rows(batch: dict[str, Any], rows: list[dict[str, Any]]) -> Columns:
    """A batch's per-prompt outputs as task columns: ``label`` from the batch, ``prompt`` from each row (the prompt as
    generated, after any augmentation), every other entry stacked over the prompts (each row holds the same keys)."""
    outputs: Columns = {"label": torch.as_tensor(batch["label"]).long(), "prompt": [row.pop("prompt") for row in rows]}
    for name in rows[0]:
        outputs[name] = torch.stack([row[name] for row in rows])
    return outputs
