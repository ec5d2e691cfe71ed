"""The image generation task: featurise generated images on the generating rank, score FID & co. against
reference statistics, export images."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.registry import TASKS
from bench.store import Columns, SampleStore, as_outputs
from bench.tasks.base import EvalTask

@TASKS.register_module(name="generation")
class GenerationTask(EvalTask):
    """Image generation scored with FID, sFID, IS, precision/recall and KID against reference statistics.

    The method returns uint8 ``image`` [B, H, W, C] (and ``class_label``); :meth:`featurize` runs the
    ``extractor`` (a ``bench.registry.EXTRACTORS`` spec, e.g. the TF-compatible Inception-v3 from a local
    weight file) on the generating rank and stores ``feat_pool``/``feat_logits``/``feat_spatial`` with each
    sample, so ``bench score`` recomputes every metric without the model or the extractor. ``reference`` is a
    statistics file or a dataset spec (see :func:`bench.tasks.generation.exports.resolve_reference`). ``image_format``
    exports the images as PNG shards (``images/``), guided-diffusion's ``samples_NxHxWxC.npz``, or not at all.
    Scores from a non-Inception extractor carry their metrics' ``prefix`` (the digits demo's ``digits_FID``). Without
    ``reference`` only metrics that need none run (class accuracies, sampling cost). ``extractor=None`` stores no
    features: for runs whose images are the product (generated queries another config reads), where no metric reads
    a feature column (one that does is an error naming it).

    ``neighbours=dict(pool=<dataset spec>, dedup=1.0, k=50, alpha=0.5)`` also measures pixel-level memorization
    (AMG): each sample stores ``nearest_train_nl2`` (its nL2 to the training pool, images mapped to [-1, 1] as
    ``x / 127.5 - 1``) and ``nearest_train_index`` (into the pool after deduplication; ``dedup=None`` keeps every
    image). The pool is built and deduplicated once and cached beside the reference statistics
    (:class:`bench.tasks.generation.neighbours.NeighbourPool`).
    """

    required_outputs = ("image",)
    # images count only when stored as floats
    finite_outputs = ("image", "feat_pool", "feat_logits", "feat_spatial", "nearest_train_nl2")
    scored_outputs = ()  # metrics read the stored features; images are only exported and drawn
    default_metrics = ({"type": "FID"}, {"type": "SFID"}, {"type": "InceptionScore"}, {"type": "PrecisionRecall"},
                       {"type": "KID"})
    FEATURE_COLUMNS = {"pool": "feat_pool", "logits": "feat_logits", "spatial": "feat_spatial"}

    def __init__(self, extractor: dict[str, Any] | None, reference: str | dict[str, Any] | None = None,
                 metrics: list[dict[str, Any]] | None = None, image_format: str | None = "png",
                 grid_size: int = 64, reference_cache: str | None = None,
                 neighbours: dict[str, Any] | None = None) -> None:
        if image_format not in ("png", "npz", None):
            raise ValueError(f"generation task: image_format must be 'png', 'npz' or None, got {image_format!r}")
        super().__init__(metrics)
        needing = [type(m).__name__ for m in self.metrics
                   if getattr(m, "needs_reference", False) and getattr(m, "reference", None) is None]
        if reference is None and needing:
            raise ValueError(f"generation task: {', '.join(needing)} need reference statistics: set task.reference "
                             "(a statistics file or a dataset spec)")
        if extractor is None:
            features = set(self.FEATURE_COLUMNS.values())
            reading = [type(m).__name__ for m in self.metrics if features & set(getattr(m, "required", ()))]
            if reading or reference is not None:
                raise ValueError(f"generation task: extractor=None stores no features, but "
                                 f"{', '.join(reading) or 'the reference statistics'} need them: give task.extractor "
                                 "(an EXTRACTORS spec) or drop those metrics and the reference")
        self.extractor_spec = None if extractor is None else dict(extractor)
        self.reference_spec = reference
        self.image_format, self.grid_size = image_format, grid_size
        self.reference_cache = reference_cache
        from bench.tasks.generation.neighbours import check_neighbours_spec

        self.neighbours_spec = check_neighbours_spec(neighbours) if neighbours is not None else None
        self._neighbour_pool: Any = None
        self.device: Any = "cpu"
        self._extractor: Any = None
        self._reference: Any = None
        self._reference_facts: dict[str, Any] = {}

    @property
    def extractor(self) -> Any:
        if self._extractor is None and self.extractor_spec is not None:
            from bench.registry import EXTRACTORS

            self._extractor = EXTRACTORS.build(dict(self.extractor_spec)).to(self.device)
        return self._extractor

    def prepare(self, device: Any) -> None:
        """Build the extractor on ``device`` here, outside inference mode (it loads weights; an upstream checkpoint
        it reads was resolved by the runner before anything was built)."""
        self.device = device
        if self.extractor is not None:
            self.extractor.to(device)
        if self.neighbours_spec is not None:
            self.neighbour_pool().to(device)

    def featurize(self, outputs: Columns) -> Columns:
        features = self.extractor(outputs["image"]) if self.extractor is not None else {}
        columns = {self.FEATURE_COLUMNS[name]: value.float().cpu() for name, value in features.items()}
        if self.neighbours_spec is not None:
            import torch

            from bench.tasks.generation.neighbours import images_to_model_range

            images = images_to_model_range(torch.as_tensor(outputs["image"]), "generated images")
            columns["nearest_train_nl2"], columns["nearest_train_index"] = self.neighbour_pool().nearest(images)
        return columns

    def _cache_dir(self) -> Path:
        from bench.results import results_root

        return Path(self.reference_cache) if self.reference_cache else results_root() / "references"

    def neighbour_pool(self) -> Any:
        """The (deduplicated) training pool of ``neighbours``, built or loaded from the cache on first use."""
        if self._neighbour_pool is None:
            from bench.tasks.generation.neighbours import NeighbourPool

            assert self.neighbours_spec is not None  # only called with neighbours set
            self._neighbour_pool = NeighbourPool.build(cache_dir=self._cache_dir(), **self.neighbours_spec)
        return self._neighbour_pool

    def reference(self) -> Any:
        """The reference statistics, resolved (and built or featurised once, then cached) on first use."""
        if self._reference is None and self.reference_spec is not None:
            from bench.tasks.generation.reference import resolve_reference

            cache = self._cache_dir()
            need = any(getattr(m, "needs_reference_features", False) for m in self.metrics)
            self._reference, self._reference_facts = resolve_reference(self.reference_spec, self.extractor, cache,
                                                                       need_features=need)
        return self._reference

    def evaluate(self, outputs: Columns) -> dict[str, float]:
        reference = self.reference()
        for metric in self.metrics:
            if getattr(metric, "reference", False) is None:
                metric.reference = reference  # type: ignore[attr-defined]  # the generation metrics' attribute
        return super().evaluate(outputs)

    def describe(self) -> dict[str, Any]:
        self.reference()
        facts = {"extractor": self.extractor.describe() if self.extractor is not None else None,
                 "reference": self._reference_facts}
        if self.neighbours_spec is not None:
            facts["neighbours"] = self.neighbour_pool().facts
        scored = {type(m).__name__: said for m in self.metrics if (said := getattr(m, "facts", None))}
        if scored:  # what a metric computed with, when it says (IntraLPIPS: its distance network and clusters)
            facts["metrics"] = scored
        return facts

    def write_exports(self, outputs: Columns | SampleStore, run_dir: Path) -> dict[str, Path]:
        """The images as PNG shards or one npz, written from the stored chunks in index order, one block at a time."""
        from bench.tasks.generation.exports import write_png_shards, write_samples_npz

        source = as_outputs(outputs)
        if self.image_format == "png":
            for block in source.iter_chunks(["image"]):
                write_png_shards(run_dir / "images", block["sample_id"], block["index"], block["image"])
            return {"images": run_dir / "images"}
        if self.image_format == "npz":
            rows = source.load(["class_label"])
            labels = rows.get("class_label")
            conditional = labels is not None and bool((labels >= 0).all())
            blocks = (block["image"] for block in source.iter_chunks(["image"]))
            return {"samples": write_samples_npz(run_dir, blocks, labels if conditional else None,
                                                 count=len(rows["sample_id"]))}
        return {}

    def write_figures(self, outputs: Columns | SampleStore, directory: Path, title: str = "") -> dict[str, Path]:
        """A grid of the first ``grid_size`` images (only those are read); with ``neighbours``, also the nearest-
        neighbour grid: the 16 samples of lowest nL2, each row of (up to) 8 over a row of their nearest pool images."""
        from bench.tasks.generation.exports import sample_grid, to_uint8_images

        source = as_outputs(outputs)
        images = next(source.iter_chunks(["image"], rows=self.grid_size))["image"]
        figures = {"sample_grid": sample_grid(images, directory / "sample_grid.png")}
        if self.neighbours_spec is not None:
            import torch

            rows = source.load(["image", "nearest_train_nl2", "nearest_train_index"])
            if "nearest_train_nl2" in rows:
                order = torch.as_tensor(rows["nearest_train_nl2"]).argsort()[:16]
                samples = torch.as_tensor(rows["image"])[order]
                pool = self.neighbour_pool().images
                nearest = pool[torch.as_tensor(rows["nearest_train_index"])[order].long()].cpu()
                neighbours = to_uint8_images(nearest)
                if neighbours.shape[-1] == 1 and samples.shape[-1] == 3:  # a grey pool beside RGB samples
                    neighbours = neighbours.expand(*neighbours.shape[:-1], samples.shape[-1])
                per_row = min(8, len(order))
                pairs = torch.cat([torch.cat([samples[i:i + per_row], neighbours[i:i + per_row]])
                                   for i in range(0, len(order), per_row)])
                figures["nearest_neighbours"] = sample_grid(pairs, directory / "nearest_neighbours.png", nrow=per_row)
        return figures
