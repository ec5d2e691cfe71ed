"""Generative metrics from stored per-sample features: FID, sFID, Inception Score, precision/recall and KID.

A generation run stores the extractor's features per sample (``feat_pool`` [N, D], ``feat_logits`` [N, K],
``feat_spatial`` [N, S]); these metrics compare them with :class:`bench.tasks.generation.reference.ReferenceStatistics`
following guided-diffusion's evaluator (``evaluations/evaluator.py``) where it defines a convention (IS splits,
sFID, precision/recall), and torch-fidelity's implementation for KID (called, not re-implemented).
"""
from __future__ import annotations

import os
import warnings
from typing import Any, NamedTuple

import numpy as np
import torch

from bench.finite import require_finite
from bench.metrics.base import Metric
from bench.tasks.generation.reference import ReferenceStatistics, ReferenceStatsError
from bench.registry import METRICS
from bench.store import Columns

ArrayLike = np.ndarray | torch.Tensor


class FeatureMismatchError(ReferenceStatsError):
    """Generated features and reference statistics have different dimensions (different extractors)."""


def _float64(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of features [N, D] as guided-diffusion and pytorch-fid compute them (``np.cov(rowvar=
    False)``, i.e. normalised by N - 1), except that the mean is taken in float64 (theirs is float32)."""
    x = _float64(features)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"feature statistics need features [N, D] with N >= 2, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a positive semi-definite matrix; round-off negative eigenvalues become 0."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """tr sqrt(sigma1 sigma2) = sum sqrt(eig(sqrt(sigma1) sigma2 sqrt(sigma1))) for covariance matrices.

    sigma1 sigma2 is similar to the symmetric PSD matrix sqrt(sigma1) sigma2 sqrt(sigma1), so its eigenvalues are
    real and non-negative and two symmetric eigendecompositions suffice; negative round-off eigenvalues clip to 0.
    """
    root = _sqrt_psd(np.asarray(sigma1, dtype=np.float64))
    middle = root @ np.asarray(sigma2, dtype=np.float64) @ root
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Fréchet distance ||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 sqrt(sigma1 sigma2)) between two Gaussians.

    The trace of the matrix square root comes from symmetric eigendecompositions in float64
    (:func:`trace_sqrt_product`) rather than ``scipy.linalg.sqrtm(sigma1 @ sigma2)`` (guided-diffusion, pytorch-fid)
    or ``np.linalg.eigvals`` of the non-symmetric product (torch-fidelity): symmetric solvers give real, clipped
    eigenvalues and need no 1e-6 diagonal fallback. The values agree with both to relative 4e-14 (D = 2048,
    N = 10k) to 2e-11 (D = 64, N = 500) for full-rank covariances and 2e-8 to 3e-8 when N <= D makes them singular.
    Speed is not the reason: from 2 x 10k x 2048 features the whole path (statistics + distance) took 4.97 s against
    torch-fidelity's 4.89 s on 2 CPU cores (tests/benchmarks/test_generation_throughput.py).
    """
    m1, m2 = _float64(mu1), _float64(mu2)
    s1, s2 = _float64(sigma1), _float64(sigma2)
    if m1.ndim != 1 or m1.shape != m2.shape or s1.shape != (m1.shape[0],) * 2 or s2.shape != s1.shape:
        raise ValueError(f"frechet_distance: need mu [D] and sigma [D, D] of one D, got mu {m1.shape} / {m2.shape} "
                         f"and sigma {s1.shape} / {s2.shape}")
    diff = m1 - m2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt_product(s1, s2))


def inception_score(logits: ArrayLike, split_size: int = 5000) -> tuple[float, float]:
    """Inception Score (mean, std over splits) from bias-free Inception logits [N, K], guided-diffusion's way.

    Softmax in float64, contiguous splits of ``split_size`` samples in stored order (50,000 samples -> 10 splits;
    a remainder forms a last, smaller split as in guided-diffusion), per split exp(mean_x KL(p(y|x) || p(y))).
    guided-diffusion reports only the mean; the std (population, ddof=0) is torch-fidelity's. Terms with
    p(y|x) = 0 count as 0 (guided-diffusion's float32 ``np.log`` would give NaN there).
    """
    x = torch.as_tensor(logits).detach().cpu().double()
    if x.ndim != 2 or x.shape[0] == 0 or split_size < 1:
        raise ValueError(f"inception_score needs logits [N, K] and split_size >= 1, got shape {tuple(x.shape)} and "
                         f"split_size {split_size}")
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    scores = []
    for start in range(0, x.shape[0], split_size):
        p_chunk, log_p_chunk = p[start:start + split_size], log_p[start:start + split_size]
        log_marginal = p_chunk.mean(dim=0, keepdim=True).log()
        kl = torch.where(p_chunk > 0, p_chunk * (log_p_chunk - log_marginal), torch.zeros_like(p_chunk))
        scores.append(float(kl.sum(dim=1).mean().exp()))
    return float(np.mean(scores)), float(np.std(scores))


def _knn_radii(features: torch.Tensor, k: int, batch_size: int) -> torch.Tensor:
    """Distance from each point to its k-th nearest neighbour in the same set, itself excluded (the (k+1)-th
    smallest distance, self at 0 included), keeping only the k+1 smallest per column block in memory."""
    radii = []
    for rows in features.split(batch_size):
        candidates = []
        for cols in features.split(batch_size):
            distances = torch.cdist(rows, cols)
            candidates.append(distances.topk(min(k + 1, cols.shape[0]), dim=1, largest=False).values)
        radii.append(torch.cat(candidates, dim=1).kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def _inside_manifold(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, batch_size: int) -> torch.Tensor:
    """For each point, whether it lies within radius of any centre (the ball includes its boundary)."""
    inside = []
    for rows in points.split(batch_size):
        status = torch.zeros(rows.shape[0], dtype=torch.bool, device=rows.device)
        for start in range(0, centres.shape[0], batch_size):
            cols, col_radii = centres[start:start + batch_size], radii[start:start + batch_size]
            status |= (torch.cdist(rows, cols) <= col_radii[None, :]).any(dim=1)
        inside.append(status)
    return torch.cat(inside)


def manifold_precision_recall(real: ArrayLike, fake: ArrayLike, k: int = 3, batch_size: int = 10000,
                              device: str | torch.device | None = None,
                              dtype: torch.dtype = torch.float32) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) as guided-diffusion's ``ManifoldEstimator``.

    Each set's manifold is the union of balls around its points with radius = distance to the k-th nearest
    neighbour in that set; precision = fraction of ``fake`` inside the real manifold, recall = fraction of ``real``
    inside the fake manifold. Distances are ``torch.cdist`` in ``dtype`` (float32, as torch-fidelity) on ``device``
    in ``batch_size`` blocks; guided-diffusion computes squared distances in float16 first (float32 only if that
    overflows), which can flip points that lie within float16 round-off of a ball's boundary.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    real_t = torch.as_tensor(real).detach().to(device=device, dtype=dtype)
    fake_t = torch.as_tensor(fake).detach().to(device=device, dtype=dtype)
    if real_t.ndim != 2 or fake_t.ndim != 2 or real_t.shape[1] != fake_t.shape[1]:
        raise ValueError(f"precision/recall need real [M, D] and fake [N, D], got {tuple(real_t.shape)} and "
                         f"{tuple(fake_t.shape)}")
    if min(real_t.shape[0], fake_t.shape[0]) <= k:
        raise ValueError(f"precision/recall with k={k} need more than {k} samples per set, got "
                         f"{real_t.shape[0]} real and {fake_t.shape[0]} fake")
    real_radii = _knn_radii(real_t, k, batch_size)
    fake_radii = _knn_radii(fake_t, k, batch_size)
    precision = _inside_manifold(fake_t, real_t, real_radii, batch_size).double().mean()
    recall = _inside_manifold(real_t, fake_t, fake_radii, batch_size).double().mean()
    return float(precision), float(recall)


class KIDResult(NamedTuple):
    """KID mean and std over subsets, and the subset size actually used (smaller when a set has fewer samples)."""

    mean: float
    std: float
    subset_size: int
    subsets: int


def kernel_inception_distance(fake: ArrayLike, real: ArrayLike, subsets: int = 100, subset_size: int = 1000,
                              degree: int = 3, gamma: float | None = None, coef0: float = 1.0,
                              rng_seed: int = 2020) -> KIDResult:
    """KID through torch-fidelity's ``kid_features_to_metric`` (its defaults; ``gamma=None`` means 1/D).

    ``fake`` is torch-fidelity's input 1 and ``real`` its input 2 (the order fixes which subsets its seeded RNG
    draws). The features keep their dtype, so float32 features give torch-fidelity's float32 kernel sums. When
    either set is smaller than ``subset_size``, min(N, M) is used and returned in ``KIDResult.subset_size``.
    """
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    fake_t, real_t = torch.as_tensor(fake).detach().cpu(), torch.as_tensor(real).detach().cpu()
    if fake_t.ndim != 2 or real_t.ndim != 2 or fake_t.shape[1] != real_t.shape[1]:
        raise ValueError(f"KID needs fake [N, D] and real [M, D], got {tuple(fake_t.shape)} and {tuple(real_t.shape)}")
    size = min(subset_size, fake_t.shape[0], real_t.shape[0])
    if size < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {fake_t.shape[0]} fake and {real_t.shape[0]} real")
    out = kid_features_to_metric(fake_t, real_t, kid_subsets=subsets, kid_subset_size=size, kid_kernel="poly",
                                 kid_kernel_poly_degree=degree, kid_kernel_poly_gamma=gamma,
                                 kid_kernel_poly_coef0=coef0, rng_seed=rng_seed, verbose=False)
    return KIDResult(float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD]), int(size), int(subsets))


# ----------------------------------------------------------------------------------------------- registered metrics

class GenerativeMetric(Metric):
    """A metric of stored features against reference statistics.

    ``reference`` is a :class:`ReferenceStatistics`, a path (loaded on first use, without images), or None until
    the generation task assigns the reference it resolved.
    """

    required: tuple[str, ...] = ("feat_pool",)
    needs_reference = True

    def __init__(self, reference: ReferenceStatistics | str | os.PathLike | None = None, prefix: str = "") -> None:
        super().__init__(prefix)
        self.reference = reference

    def resolve_reference(self) -> ReferenceStatistics:
        if self.reference is None:
            raise ReferenceStatsError(f"{type(self).__name__} needs reference statistics: pass reference=PATH.npz, "
                                      "or let the generation task provide its reference")
        if isinstance(self.reference, (str, os.PathLike)):
            self.reference = ReferenceStatistics.load(self.reference, load_images=False)
        return self.reference

    def require_finite(self, outputs: Columns) -> None:
        """Refuse features holding NaN/Inf (a NaN image feature makes mu, sigma and every distance NaN)."""
        for column in self.required:
            require_finite(outputs, column, type(self).__name__)

    def _where(self) -> str:
        reference = self.reference
        return getattr(reference, "path", None) or (str(reference) if isinstance(reference, (str, os.PathLike))
                                                    else "the reference statistics")

    def _match(self, features: Any, column: str, ref_dim: int, ref_name: str) -> None:
        shape = tuple(features.shape)
        if len(shape) != 2:
            raise ValueError(f"{type(self).__name__}: column {column!r} must be [N, D], got shape {shape}")
        if shape[1] != ref_dim:
            raise FeatureMismatchError(
                f"{type(self).__name__}: {column!r} has {shape[1]} dims but the reference {ref_name} in "
                f"{self._where()} has {ref_dim}; the reference was probably produced by another extractor (or "
                "layer) than this run's; rebuild it with this run's extractor")

    def _needs_pool(self) -> np.ndarray:
        reference = self.resolve_reference()
        if reference.pool is None:
            raise ReferenceStatsError(
                f"{type(self).__name__} needs per-image reference features ('pool'), but {self._where()} stores only "
                "mu/sigma; a VIRTUAL npz holds images arr_0; the generation task extracts their features once "
                "(or rebuild the reference with `bench reference IMAGES_DIR --out FILE.npz`, which keeps the features)")
        return reference.pool

    def check(self, outputs: Columns) -> None:
        super().check(outputs)
        self.check_reference(outputs)

    def check_reference(self, outputs: Columns) -> None:
        reference = self.resolve_reference()
        self._match(outputs["feat_pool"], "feat_pool", reference.feature_dim, "mu")


@METRICS.register_module()
class FID(GenerativeMetric):
    """Fréchet Inception Distance of ``feat_pool`` to the reference mu/sigma (:func:`frechet_distance`)."""

    def compute(self, outputs: Columns) -> dict[str, float]:
        self.require_finite(outputs)
        self.check_reference(outputs)
        reference = self.resolve_reference()
        mu, sigma = feature_statistics(outputs["feat_pool"])
        return {"FID": frechet_distance(mu, sigma, reference.mu, reference.sigma)}


@METRICS.register_module()
class SFID(GenerativeMetric):
    """Spatial FID (guided-diffusion's sFID) of ``feat_spatial`` to the reference mu_s/sigma_s."""

    required = ("feat_spatial",)

    def check_reference(self, outputs: Columns) -> None:
        reference = self.resolve_reference()
        if reference.mu_s is None:
            raise ReferenceStatsError(
                f"SFID needs spatial statistics mu_s/sigma_s, but {self._where()} has none (a reference built with an "
                "extractor that returns no 'spatial' features); use guided-diffusion's VIRTUAL npz or rebuild the "
                "reference with an extractor that gives spatial features, or drop SFID from the metrics")
        self._match(outputs["feat_spatial"], "feat_spatial", reference.mu_s.shape[0], "mu_s")

    def compute(self, outputs: Columns) -> dict[str, float]:
        self.require_finite(outputs)
        self.check_reference(outputs)
        reference = self.resolve_reference()
        mu, sigma = feature_statistics(outputs["feat_spatial"])
        assert reference.mu_s is not None and reference.sigma_s is not None  # check_reference raised otherwise
        return {"sFID": frechet_distance(mu, sigma, reference.mu_s, reference.sigma_s)}


@METRICS.register_module()
class InceptionScore(GenerativeMetric):
    """Inception Score of ``feat_logits`` (:func:`inception_score`); ``reference`` is accepted and ignored."""

    required = ("feat_logits",)
    needs_reference = False

    def __init__(self, split_size: int = 5000, reference: ReferenceStatistics | str | None = None,
                 prefix: str = "") -> None:
        super().__init__(reference, prefix)
        self.split_size = split_size

    def check_reference(self, outputs: Columns) -> None:
        shape = tuple(outputs["feat_logits"].shape)
        if len(shape) != 2:
            raise ValueError(f"InceptionScore: column 'feat_logits' must be [N, K], got shape {shape}")

    def compute(self, outputs: Columns) -> dict[str, float]:
        self.require_finite(outputs)
        self.check_reference(outputs)
        mean, std = inception_score(outputs["feat_logits"], self.split_size)
        return {"IS": mean, "IS_std": std}


class ReferenceFeatureMetric(GenerativeMetric):
    """A metric of ``feat_pool`` against the reference's per-image ``pool`` features, not only its mean and
    covariance: the generation task featurises a VIRTUAL file's images once when such a metric is configured."""

    needs_reference_features = True

    def check_reference(self, outputs: Columns) -> None:
        pool = self._needs_pool()
        self._match(outputs["feat_pool"], "feat_pool", pool.shape[1], "pool features")


@METRICS.register_module()
class PrecisionRecall(ReferenceFeatureMetric):
    """Improved precision/recall of ``feat_pool`` against the reference ``pool`` features
    (:func:`manifold_precision_recall`; ``device`` None means CUDA when available)."""

    def __init__(self, k: int = 3, batch_size: int = 10000, device: str | None = None,
                 reference: ReferenceStatistics | str | None = None, prefix: str = "") -> None:
        super().__init__(reference, prefix)
        self.k, self.batch_size, self.device = k, batch_size, device

    def compute(self, outputs: Columns) -> dict[str, float]:
        self.require_finite(outputs)
        self.check_reference(outputs)
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        precision, recall = manifold_precision_recall(self._needs_pool(), outputs["feat_pool"], k=self.k,
                                                      batch_size=self.batch_size, device=device)
        return {"precision": precision, "recall": recall}


@METRICS.register_module()
class KID(ReferenceFeatureMetric):
    """Kernel Inception Distance of ``feat_pool`` against the reference ``pool`` (:func:`kernel_inception_distance`).

    The subset size actually used is kept in ``subset_size_used`` (with a warning when it had to shrink).
    """

    def __init__(self, subsets: int = 100, subset_size: int = 1000, degree: int = 3, gamma: float | None = None,
                 coef0: float = 1.0, rng_seed: int = 2020, reference: ReferenceStatistics | str | None = None,
                 prefix: str = "") -> None:
        super().__init__(reference, prefix)
        self.subsets, self.subset_size, self.degree = subsets, subset_size, degree
        self.gamma, self.coef0, self.rng_seed = gamma, coef0, rng_seed
        self.subset_size_used: int | None = None

    def compute(self, outputs: Columns) -> dict[str, float]:
        self.require_finite(outputs)
        self.check_reference(outputs)
        result = kernel_inception_distance(outputs["feat_pool"], self._needs_pool(), subsets=self.subsets,
                                           subset_size=self.subset_size, degree=self.degree, gamma=self.gamma,
                                           coef0=self.coef0, rng_seed=self.rng_seed)
        self.subset_size_used = result.subset_size
        if result.subset_size < self.subset_size:
            warnings.warn(f"KID: subset size reduced from {self.subset_size} to {result.subset_size} (= min(N, M) "
                          f"of {len(outputs['feat_pool'])} generated, {len(self._needs_pool())} reference)",
                          stacklevel=2)
        return {"KID": result.mean, "KID_std": result.std}


@METRICS.register_module()
class ClassAccuracy(Metric):
    """Fraction of conditional samples that the extractor's classifier assigns to their requested class
    (``argmax feat_logits == class_label``): Compress Guidance's "off-sampling" accuracy when the extractor is
    a classifier other than the one that guided sampling."""

    required = ("feat_logits", "class_label")

    def compute(self, outputs: Columns) -> dict[str, float]:
        labels = torch.as_tensor(outputs["class_label"])
        if (labels < 0).any():
            raise ValueError("ClassAccuracy needs class-conditional samples (every class_label >= 0)")
        require_finite(outputs, "feat_logits", type(self).__name__)  # argmax of a NaN row picks a class
        predicted = torch.as_tensor(outputs["feat_logits"]).argmax(-1)
        return {"accuracy": float((predicted == labels).double().mean())}
