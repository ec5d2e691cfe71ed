"""Intra-LPIPS: the diversity score of few-shot generation (CDC, Ojha et al. 2021; used by DCL, DDPM-PA, DPMs-ANT).

Protocol (CDC ``feat_cluster.py``, WisconsinAIVision/few-shot-gan-adaptation; the clustering step that fills its
``cluster_centers/<dataset>/<baseline>/c<k>`` folders is described in the CDC paper and not released): assign each
generated image to the nearest of the K training images by LPIPS (ties to the lower index); within each cluster
take a random subset of at most ``cluster_size`` = 50 members (CDC shuffles and keeps the first 50; the centre
itself is not a member) and average LPIPS over all pairs i < j; the score is the mean over clusters, where a
cluster with fewer than two members has no pair: CDC's mean is NaN there and its final average skips NaNs, so such
clusters are left out here too and counted. CDC's LPIPS: ``lpips.LPIPS(net='vgg')`` (version 0.1, the calibrated
linear layers), images resized to 256 x 256 and normalised to [-1, 1]; this module takes [0, 1] images (the
readers' range) and maps them (``normalize=True``); resizing is the caller's (generations are 256 px already).

The distance is injectable (any ``(x [B, ...], y [B, ...]) -> [B]``): :class:`LPIPSDistance` is the VGG LPIPS
with its backbone read from a local torchvision ``vgg16`` weight file (nothing is downloaded), and other distances
(e.g. a digits feature extractor's) stand in where LPIPS does not fit; a result records which one it used.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bench.metrics.base import Metric
from bench.registry import METRICS
from bench.store import Columns

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CDC_CLUSTER_SIZE = 50
VGG16_FILE = "vgg16-397923af.pth"  # torchvision's IMAGENET1K_V1 VGG16 weights, what lpips's trunk loads
# lpips's vgg16 trunk cuts torchvision's vgg16().features into five slices at these layer indices
VGG_SLICES = ((1, range(0, 4)), (2, range(4, 9)), (3, range(9, 16)), (4, range(16, 23)), (5, range(23, 30)))


@dataclass
class IntraClusterResult:
    """The score and what it was computed from."""

    value: float  # mean over the clusters with at least two (subsampled) members
    std: float  # unbiased std of those clusters' means (CDC prints it beside the mean); 0.0 for one cluster
    per_cluster: list[float | None]  # each cluster's mean pairwise distance; None below two members
    members: list[int]  # images assigned to each centre
    used: list[int]  # members entering the pairwise mean (at most cluster_size)
    skipped_clusters: int  # clusters with fewer than two members
    cluster_size: int | None
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pairwise_to_centres(images: torch.Tensor, centres: torch.Tensor, distance: Distance,
                        batch_size: int = 64) -> torch.Tensor:
    """[N, K] distances from every image to every centre, in batches of ``batch_size`` images."""
    rows = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        rows.append(torch.stack([distance(chunk, centre.expand_as(chunk)).reshape(len(chunk)).float()
                                 for centre in centres], dim=1))
    return torch.cat(rows)


def mean_pairwise(images: torch.Tensor, distance: Distance, batch_size: int = 64) -> float | None:
    """Mean of ``distance`` over all pairs i < j of ``images``; None for fewer than two images."""
    n = len(images)
    if n < 2:
        return None
    first, second = torch.triu_indices(n, n, offset=1)
    values = [distance(images[first[s:s + batch_size]], images[second[s:s + batch_size]]).reshape(-1).double()
              for s in range(0, len(first), batch_size)]
    return float(torch.cat(values).mean())


def intra_cluster_distance(generated: torch.Tensor, centres: torch.Tensor, distance: Distance,
                           cluster_size: int | None = CDC_CLUSTER_SIZE, seed: int = 0,
                           batch_size: int = 64) -> IntraClusterResult:
    """CDC's intra-cluster score of ``generated`` [N, ...] around ``centres`` [K, ...] (the training images).

    Args:
        generated: the generated images (the paper: 1,000), as ``distance`` takes them.
        centres: the K training images (10-shot: K = 10), same shape per image.
        distance: ``(x [B, ...], y [B, ...]) -> [B]``, e.g. :class:`LPIPSDistance`.
        cluster_size: members per cluster entering the pairwise mean (CDC: 50, a seeded random subset);
            None uses them all.
        seed: seeds the subsets (CDC's ``random.shuffle`` is unseeded).
        batch_size: pairs (or images) per ``distance`` call.
    """
    if generated.ndim < 2 or centres.ndim < 2 or generated.shape[1:] != centres.shape[1:]:
        raise ValueError(f"intra_cluster_distance: generated {tuple(generated.shape)} and centres "
                         f"{tuple(centres.shape)} must be batches of same-shaped images")
    if len(centres) == 0 or len(generated) < 2:
        raise ValueError(f"intra_cluster_distance: need at least one centre and two generated images, got "
                         f"{len(centres)} centres and {len(generated)} images")
    if cluster_size is not None and cluster_size < 2:
        raise ValueError(f"intra_cluster_distance: cluster_size must be at least 2 (pairs) or None, got {cluster_size}")
    assignment = pairwise_to_centres(generated, centres, distance, batch_size).argmin(dim=1)
    generator = torch.Generator().manual_seed(seed)
    per_cluster: list[float | None] = []
    members, used = [], []
    for k in range(len(centres)):
        index = (assignment == k).nonzero().flatten()
        members.append(len(index))
        if cluster_size is not None and len(index) > cluster_size:
            index = index[torch.randperm(len(index), generator=generator)[:cluster_size]]
        used.append(len(index))
        per_cluster.append(mean_pairwise(generated[index], distance, batch_size))
    defined = torch.tensor([v for v in per_cluster if v is not None], dtype=torch.float64)
    if len(defined) == 0:
        raise ValueError(f"intra_cluster_distance: no cluster has two members (members per centre: {members}); "
                         "Intra-LPIPS is undefined: generate more images")
    return IntraClusterResult(value=float(defined.mean()), std=float(defined.std()) if len(defined) > 1 else 0.0,
                              per_cluster=per_cluster, members=members, used=used,
                              skipped_clusters=len(per_cluster) - len(defined), cluster_size=cluster_size, seed=seed)


class LPIPSDistance:
    """LPIPS v0.1 with the VGG trunk (CDC's ``lpips.LPIPS(net='vgg')``) on images in [0, 1]: the calibrated linear
    layers ship inside the ``lpips`` package; the trunk is read from ``backbone_weights``, a local torchvision
    ``vgg16`` state dict (``vgg16-397923af.pth``; only its ``features.*`` entries are used).

    ``backbone_weights=None`` keeps a randomly initialised trunk: for tests only, and recorded as such."""

    def __init__(self, backbone_weights: str | Path | None, device: str | torch.device = "cpu") -> None:
        try:
            import lpips
        except ImportError as error:
            raise ImportError("LPIPSDistance needs the lpips package (pip install 'bench[fewshot]')") from error
        from bench.io import sha256_file

        # the file is checked and read before the network is built (building VGG16 takes seconds on one core)
        trunk: tuple[Path, dict[str, torch.Tensor]] | None = None
        self.backbone: dict[str, Any] = {"net": "vgg16", "lpips_version": "0.1",
                                         "lpips_package": getattr(lpips, "__version__", "unknown")}
        if backbone_weights is None:
            self.backbone["trunk"] = "random (test only)"
        else:
            path = Path(backbone_weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(
                    f"LPIPS VGG backbone weights not found: {str(path)!r} is not a file. Expected torchvision's "
                    f"{VGG16_FILE} (torchvision.models.VGG16_Weights.IMAGENET1K_V1). Nothing is downloaded here: "
                    "copy it from a torch hub cache (~/.cache/torch/hub/checkpoints) and pass its path")
            trunk = path, self._trunk_state(path)
            self.backbone.update({"trunk": "torchvision vgg16 IMAGENET1K_V1", "weights_file": path.name,
                                  "weights_sha256": sha256_file(path)})
        with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=False`
            warnings.simplefilter("ignore", UserWarning)
            self.model = lpips.LPIPS(net="vgg", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        if trunk is not None:
            from bench.checkpoint import load_state_strict

            load_state_strict(self.model.net, trunk[1], trunk[0], hint=f"Expected torchvision's {VGG16_FILE}.")
        self.model.eval().requires_grad_(False).to(device)
        self.device = device

    @staticmethod
    def _trunk_state(path: Path) -> dict[str, torch.Tensor]:
        """torchvision's ``features.<i>.<p>`` entries renamed to lpips's ``slice<k>.<i>.<p>``; a file without all
        of them is a CheckpointError naming it."""
        from bench.checkpoint import CheckpointError, extract_state_dict, load_checkpoint_file

        state = extract_state_dict(load_checkpoint_file(path), path=path)
        wanted = {f"slice{k}.{i}.{p}": f"features.{i}.{p}" for k, layers in VGG_SLICES for i in layers
                  for p in ("weight", "bias") if i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)}
        missing = sorted(source for source in wanted.values() if source not in state)
        if missing:
            raise CheckpointError(f"{path} is not a torchvision vgg16 state dict: missing {len(missing)} of its "
                                  f"{len(wanted)} features.* entries ({', '.join(missing[:4])}, ...); expected "
                                  f"{VGG16_FILE}")
        return {name: state[source] for name, source in wanted.items()}

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """[B] LPIPS distances between images ``x`` and ``y`` ([B, 3, H, W] in [0, 1])."""
        with torch.no_grad():
            return self.model(x.to(self.device), y.to(self.device), normalize=True).reshape(len(x))

    def describe(self) -> dict[str, Any]:
        return dict(self.backbone)


class FeatureDistance:
    """L2 distance between an image feature extractor's pooled features (any ``EXTRACTORS`` spec): the stand-in for
    LPIPS where LPIPS does not fit (8 x 8 digits, far below VGG's receptive fields). Takes float [B, C, H, W] in
    [0, 1], features computed once per call."""

    def __init__(self, extractor: dict[str, Any]) -> None:
        from bench.registry import EXTRACTORS

        self.spec = dict(extractor)
        self.extractor = EXTRACTORS.build(dict(extractor))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        uint8 = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
        return self.extractor(uint8)["pool"].double()

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).norm(dim=1)  # on features (IntraLPIPS featurises first)

    def describe(self) -> dict[str, Any]:
        return {"distance": "L2 of pooled features", "extractor": self.extractor.describe()}


@METRICS.register_module()
class IntraLPIPS(Metric):
    """Intra-LPIPS of the stored generated images (``image``, uint8 [N, H, W, C]) around ``centres``, a dataset spec
    of the K training images (float [C, H, W] in [0, 1]; CDC's ``train10``): :func:`intra_cluster_distance`.

    ``distance``: ``{"type": "lpips", "backbone_weights": PATH}`` (CDC's VGG LPIPS, :class:`LPIPSDistance`; images
    resized bilinearly to ``resize`` when given, CDC's 256) or ``{"type": "features", "extractor": <EXTRACTORS
    spec>}`` (:class:`FeatureDistance`, reported as ``intra-cluster feature distance``: not LPIPS, comparable only
    within one extractor). Needs the images, so ``bench score`` recomputes it with the same weights."""

    required = ("image",)

    def __init__(self, centres: dict[str, Any], distance: dict[str, Any],
                 cluster_size: int | None = CDC_CLUSTER_SIZE, seed: int = 0, resize: int | None = 256,
                 batch_size: int = 64, prefix: str = "") -> None:
        super().__init__(prefix)
        self.centres_spec = dict(centres)
        # no default: LPIPS without its VGG file would silently score with a random trunk
        self.distance_spec = dict(distance)
        kind = self.distance_spec.get("type")
        if kind not in ("lpips", "features"):
            raise ValueError(f"IntraLPIPS distance type must be 'lpips' or 'features', got {kind!r}")
        self.cluster_size, self.seed, self.resize, self.batch_size = cluster_size, seed, resize, batch_size
        self.facts: dict[str, Any] = {}

    def compute(self, outputs: Columns) -> dict[str, float]:
        from bench.registry import DATASETS

        centres_set = DATASETS.build(dict(self.centres_spec))
        centres = torch.stack([torch.as_tensor(centres_set[i]["image"]).float() for i in range(len(centres_set))])
        images = torch.as_tensor(outputs["image"])
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"IntraLPIPS: stored 'image' must be uint8 [N, H, W, C], got {images.dtype} "
                             f"{tuple(images.shape)}")
        generated = images.permute(0, 3, 1, 2).float() / 255.0
        if generated.shape[1:] != centres.shape[1:]:
            raise ValueError(f"IntraLPIPS: generated images {tuple(generated.shape[1:])} and centres "
                             f"{tuple(centres.shape[1:])} ({self.centres_spec.get('type')}) differ in shape; read the "
                             "training images at the generation size")
        distance: Any
        if self.distance_spec["type"] == "features":
            distance = FeatureDistance(self.distance_spec["extractor"])
            generated, centres = distance.features(generated), distance.features(centres)
            name = "intra-cluster feature distance"
        else:
            distance = LPIPSDistance(self.distance_spec.get("backbone_weights"))
            if self.resize is not None and generated.shape[-1] != self.resize:
                resize = torch.nn.functional.interpolate
                generated = resize(generated, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
                centres = resize(centres, size=(self.resize, self.resize), mode="bilinear", align_corners=False)
            name = "Intra-LPIPS"
        result = intra_cluster_distance(generated, centres, distance, self.cluster_size, self.seed, self.batch_size)
        self.facts = {"distance": distance.describe(), "centres": len(centres), **result.as_dict()}
        return {name: result.value, f"{name} std": result.std,
                "skipped clusters": float(result.skipped_clusters)}
