"""Generative metrics: FID/sFID golden values and parity with torch-fidelity and guided-diffusion's scipy formula,
Inception Score conventions, improved precision/recall, KID through torch-fidelity, and the registered metrics."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import linalg
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_features_to_metric
from torch_fidelity.metric_kid import kid_features_to_metric
from torch_fidelity.metric_prc import calculate_precision_recall_full

from bench.metrics.generation import (
    FeatureMismatchError,
    feature_statistics,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    manifold_precision_recall,
    trace_sqrt_product,
)
from bench.tasks.generation.reference import ReferenceStatistics, ReferenceStatsError
from bench.registry import METRICS


def guided_diffusion_fid(mu1, sigma1, mu2, sigma2, eps=1e-6) -> float:
    """guided-diffusion's ``FIDStatistics.frechet_distance`` (= pytorch-fid's): scipy sqrtm, 1e-6 fallback."""
    diff = mu1 - mu2
    covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def torch_fidelity_fid(mu1, sigma1, mu2, sigma2) -> float:
    return fid_statistics_to_metric({"mu": mu1, "sigma": sigma1}, {"mu": mu2, "sigma": sigma2}, False)[
        "frechet_inception_distance"]


def correlated_features(seed: int, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Two sets of correlated Gaussian features with different means and covariances."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    x = rng.normal(size=(n, d)) @ mixing + 0.1
    y = rng.normal(size=(n, d)) @ (mixing + 0.2 * rng.normal(size=(d, d)) / np.sqrt(d))
    return x, y


# --------------------------------------------------------------------------------------------------------- FID

@pytest.mark.parametrize(("m1", "s1", "m2", "s2"), [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.5), (3.0, 0.1, 3.0, 4.0)])
def test_frechet_distance_1d_gaussians(m1: float, s1: float, m2: float, s2: float) -> None:
    """Between 1-D Gaussians the Fréchet distance is (m1 - m2)^2 + s1^2 + s2^2 - 2 s1 s2."""
    expected = (m1 - m2) ** 2 + s1 ** 2 + s2 ** 2 - 2 * s1 * s2
    got = frechet_distance(np.array([m1]), np.array([[s1 ** 2]]), np.array([m2]), np.array([[s2 ** 2]]))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_frechet_distance_diagonal_gaussians() -> None:
    """Diagonal covariances: sum over dims of (m1 - m2)^2 + (s1 - s2)^2."""
    m1, m2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, -1.0])
    s1, s2 = np.array([1.0, 2.0, 0.5]), np.array([3.0, 2.0, 1.5])
    expected = float(((m1 - m2) ** 2 + (s1 - s2) ** 2).sum())
    assert frechet_distance(m1, np.diag(s1 ** 2), m2, np.diag(s2 ** 2)) == pytest.approx(expected, rel=1e-12)


def test_fid_of_a_set_against_its_own_statistics_is_zero() -> None:
    x, _ = correlated_features(0, 500, 64)
    mu, sigma = feature_statistics(x)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)
    assert trace_sqrt_product(sigma, sigma) == pytest.approx(np.trace(sigma), rel=1e-12)


def test_feature_statistics_match_numpy_float64() -> None:
    x = np.random.default_rng(3).normal(size=(50, 7)).astype(np.float32)
    mu, sigma = feature_statistics(torch.from_numpy(x))
    np.testing.assert_array_equal(mu, x.astype(np.float64).mean(axis=0))
    np.testing.assert_array_equal(sigma, np.cov(x.astype(np.float64), rowvar=False))
    assert mu.dtype == sigma.dtype == np.float64


@pytest.mark.parametrize(("n", "tolerance"), [(500, 1e-9), (40, 1e-6)])
def test_fid_parity_with_torch_fidelity_and_scipy_sqrtm(n: int, tolerance: float) -> None:
    """Eigendecomposition FID vs torch-fidelity (eigvals of sigma1 sigma2) and guided-diffusion/pytorch-fid (scipy
    sqrtm, 1e-6 fallback), D = 64, 10 random pairs each.

    Measured maximum relative differences (numpy 2.4, scipy 1.17): N = 500 > D (full rank): ours vs torch-fidelity
    1.7e-11, ours vs sqrtm 1.7e-11 (torch-fidelity vs sqrtm 7e-14). N = 40 < D (rank-39 covariances, sqrtm needs no
    fallback here): ours vs torch-fidelity 2.0e-8, ours vs sqrtm 2.0e-8 (torch-fidelity vs sqrtm 5.7e-9); against a
    40-digit mpmath evaluation on the same float64 covariances (D = 32, N = 20) ours is off by 1.9e-8 and both
    others by 2.3e-8: all three take square roots of round-off eigenvalues (~1e-16 -> ~1e-8) of the null space.
    """
    worst_tf = worst_gd = 0.0
    for seed in range(10):
        x, y = correlated_features(seed, n, 64)
        (m1, s1), (m2, s2) = feature_statistics(x), feature_statistics(y)
        ours = frechet_distance(m1, s1, m2, s2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sqrtm's "singular matrix" warnings for N < D
            gd = guided_diffusion_fid(m1, s1, m2, s2)
        tf = torch_fidelity_fid(m1, s1, m2, s2)
        worst_tf, worst_gd = max(worst_tf, abs(ours - tf) / tf), max(worst_gd, abs(ours - gd) / gd)
    assert worst_tf < tolerance and worst_gd < tolerance, (worst_tf, worst_gd)


def test_frechet_distance_shape_errors() -> None:
    with pytest.raises(ValueError, match="one D"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# ------------------------------------------------------------------------------------------------ Inception Score

def test_inception_score_hand_computable() -> None:
    """Uniform predictions give IS 1; confident predictions spread evenly over K classes give IS K."""
    mean, std = inception_score(torch.zeros(200, 10), split_size=50)
    assert (mean, std) == (pytest.approx(1.0, abs=1e-12), pytest.approx(0.0, abs=1e-12))
    k = 10
    onehot = 1000.0 * torch.nn.functional.one_hot(torch.arange(400) % k, k).double()  # softmax exactly one-hot
    mean, std = inception_score(onehot, split_size=100)
    assert mean == pytest.approx(k, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_class_missing_from_a_split_is_finite() -> None:
    """A class with p(y) = 0 in a split contributes 0 (guided-diffusion's float32 log would give NaN)."""
    onehot = 1000.0 * torch.nn.functional.one_hot(torch.arange(100) % 4, 5).double()  # class 4 never predicted
    assert inception_score(onehot, split_size=100)[0] == pytest.approx(4.0, rel=1e-12)


def test_inception_score_remainder_split_as_guided_diffusion() -> None:
    """N not a multiple of split_size: guided-diffusion scores the remainder as a last, smaller split."""
    logits = torch.randn(250, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    preds = logits.softmax(dim=1).numpy()
    scores = []
    for i in range(0, len(preds), 100):  # guided-diffusion's compute_inception_score loop, on float64 softmax
        part = preds[i:i + 100]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    mean, std = inception_score(logits, split_size=100)
    assert len(scores) == 3
    assert mean == pytest.approx(float(np.mean(scores)), rel=1e-12)
    assert std == pytest.approx(float(np.std(scores)), rel=1e-9)


def test_inception_score_vs_torch_fidelity_splits_and_shuffle() -> None:
    """guided-diffusion and torch-fidelity differ: guided-diffusion splits the samples in stored order
    (``split_size`` = 5000 per split), torch-fidelity's ``isc_features_to_metric`` shuffles them first by default
    (``shuffle=True``, ``rng_seed=2020``) and takes ``splits`` = 10 equal parts. We follow guided-diffusion, so
    we equal torch-fidelity with ``splits=N/split_size, shuffle=False`` and differ from its default. The
    difference is large when samples are stored class by class (here: each contiguous split holds 2 of 10
    classes, IS ~2 vs ~10 shuffled) and small but nonzero for i.i.d. order.
    """
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(1000) // 100  # stored class by class, as a class-sorted sampler writes them
    logits = 6.0 * torch.nn.functional.one_hot(labels, 10).float() + torch.randn(1000, 10, generator=generator)
    mean, std = inception_score(logits, split_size=200)
    same = isc_features_to_metric(logits, splits=5, shuffle=False)
    assert mean == pytest.approx(same["inception_score_mean"], rel=1e-12)
    assert std == pytest.approx(same["inception_score_std"], rel=1e-9)
    shuffled = isc_features_to_metric(logits, splits=5)  # torch-fidelity's default: shuffle=True, rng_seed=2020
    assert shuffled["inception_score_mean"] - mean > 5.0
    iid = torch.randn(1000, 10, generator=generator) * 3
    default = isc_features_to_metric(iid, splits=5)["inception_score_mean"]
    assert abs(inception_score(iid, split_size=200)[0] - default) > 1e-4


# ------------------------------------------------------------------------------------------- precision / recall

def brute_force_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The definition in float64 numpy: radius = (k+1)-th smallest distance within a set (self at 0 included)."""
    def radii(x):
        d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
        return np.sort(d, axis=1)[:, k]

    cross = np.sqrt(((fake[:, None, :] - real[None, :, :]) ** 2).sum(-1))  # [N fake, M real]
    precision = (cross <= radii(real)[None, :]).any(axis=1).mean()
    recall = (cross.T <= radii(fake)[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def test_precision_recall_hand_constructed() -> None:
    """Real: unit-square corners, each radius sqrt(2) (3rd neighbour: 1, 1, sqrt(2)). Fake: two 0.2-squares, one at
    the origin, one at (5, 5), each radius 0.2 sqrt(2). Precision: the 4 fakes near the origin lie in the real
    manifold, the 4 at (5, 5) do not -> 1/2. Recall: only the real corner (0, 0) lies in a fake ball -> 1/4."""
    real = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float64)
    square = np.array([[0, 0], [0.2, 0], [0, 0.2], [0.2, 0.2]])
    fake = np.concatenate([square, square + 5.0])
    assert manifold_precision_recall(real, fake, k=3) == (0.5, 0.25)
    assert manifold_precision_recall(real, fake, k=3, batch_size=3) == (0.5, 0.25)  # blocks of 3 rows / columns
    assert brute_force_precision_recall(real, fake, 3) == (0.5, 0.25)


def test_precision_recall_parity_with_torch_fidelity_and_brute_force() -> None:
    """Same as torch-fidelity's ``calculate_precision_recall_full`` (features_1 = generated, features_2 = real;
    both take the (k+1)-th smallest cdist and test ``<=``), whatever our batch size; and as float64 brute force.
    The same points are inside; torch-fidelity only averages the 0/1 flags in float32 (0.40666666627 for 122/300),
    we in float64 (0.40666666667)."""
    rng = np.random.default_rng(0)
    real = rng.normal(size=(250, 16)).astype(np.float32)
    fake = (rng.normal(size=(300, 16)) * 1.2 + 0.3).astype(np.float32)
    ours = manifold_precision_recall(real, fake, k=3)
    theirs = calculate_precision_recall_full(torch.from_numpy(fake), torch.from_numpy(real), 3, 10000)
    assert ours == pytest.approx(theirs, abs=1e-7)
    assert (round(theirs[0] * 300), round(theirs[1] * 250)) == (round(ours[0] * 300), round(ours[1] * 250))
    assert manifold_precision_recall(real, fake, k=3, batch_size=64) == ours
    assert brute_force_precision_recall(real.astype(np.float64), fake.astype(np.float64), 3) == ours
    assert 0.2 < ours[0] < 1 and 0.2 < ours[1] < 1  # a non-trivial case
    assert manifold_precision_recall(real, real, k=3) == (1.0, 1.0)


def test_precision_recall_needs_more_than_k_samples() -> None:
    with pytest.raises(ValueError, match="more than 3 samples"):
        manifold_precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)


# ---------------------------------------------------------------------------------------------------------- KID

def test_kid_is_torch_fidelity_with_parameters_passed_through() -> None:
    rng = np.random.default_rng(0)
    real = torch.from_numpy(rng.normal(size=(300, 32)))
    same = torch.from_numpy(rng.normal(size=(300, 32)))
    shifted = torch.from_numpy(rng.normal(size=(300, 32)) + 0.5)
    null = kernel_inception_distance(same, real, subsets=20, subset_size=100)
    assert abs(null.mean) < 0.05 and abs(null.mean) < 3 * null.std + 1e-3
    result = kernel_inception_distance(shifted, real, subsets=20, subset_size=100)
    direct = kid_features_to_metric(shifted, real, kid_subsets=20, kid_subset_size=100, verbose=False)
    assert result.mean > 0.1 and result.mean > 10 * abs(null.mean)
    assert (result.mean, result.std) == (direct["kernel_inception_distance_mean"],
                                         direct["kernel_inception_distance_std"])
    custom = kernel_inception_distance(shifted, real, subsets=7, subset_size=50, degree=2, gamma=0.1, coef0=0.5,
                                       rng_seed=7)
    direct = kid_features_to_metric(shifted, real, kid_subsets=7, kid_subset_size=50, kid_kernel_poly_degree=2,
                                    kid_kernel_poly_gamma=0.1, kid_kernel_poly_coef0=0.5, rng_seed=7, verbose=False)
    assert custom.mean == direct["kernel_inception_distance_mean"] and custom.mean != result.mean


def test_kid_subset_size_shrinks_to_the_smaller_set() -> None:
    rng = np.random.default_rng(1)
    fake, real = torch.from_numpy(rng.normal(size=(60, 8))), torch.from_numpy(rng.normal(size=(80, 8)) + 0.3)
    result = kernel_inception_distance(fake, real, subsets=5)
    direct = kid_features_to_metric(fake, real, kid_subsets=5, kid_subset_size=60, verbose=False)
    assert result.subset_size == 60 and result.mean == direct["kernel_inception_distance_mean"]


# ----------------------------------------------------------------------------------------------- metric classes

def feature_outputs(seed: int, n: int = 200, d: int = 16, k: int = 10, s: int = 12, shift: float = 0.0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"feat_pool": torch.randn(n, d, generator=generator) + shift,
            "feat_logits": torch.randn(n, k, generator=generator) * 2,
            "feat_spatial": torch.randn(n, s, generator=generator) * 0.5 + shift}


@pytest.fixture()
def reference_file(tmp_path):
    real = feature_outputs(1)
    stats = ReferenceStatistics.from_features({"pool": real["feat_pool"], "logits": real["feat_logits"],
                                               "spatial": real["feat_spatial"]}, {"extractor": "test"})
    return stats.save(tmp_path / "ref.npz"), real


def test_metric_classes_from_a_saved_reference(reference_file) -> None:
    path, real = reference_file
    outputs = feature_outputs(2, shift=0.2)
    values = {}
    for spec in ({"type": "FID"}, {"type": "SFID"}, {"type": "InceptionScore", "split_size": 100},
                 {"type": "PrecisionRecall", "device": "cpu"}, {"type": "KID", "subsets": 10, "subset_size": 100}):
        metric = METRICS.build({**spec, "reference": str(path)})
        metric.check(outputs)
        values.update(metric.compute(outputs))
    mu, sigma = feature_statistics(real["feat_pool"])
    assert values["FID"] == pytest.approx(frechet_distance(*feature_statistics(outputs["feat_pool"]), mu, sigma),
                                          rel=1e-12)
    mu_s, sigma_s = feature_statistics(real["feat_spatial"])
    assert values["sFID"] == pytest.approx(frechet_distance(*feature_statistics(outputs["feat_spatial"]), mu_s,
                                                            sigma_s), rel=1e-12)
    assert (values["IS"], values["IS_std"]) == inception_score(outputs["feat_logits"], 100)
    assert (values["precision"], values["recall"]) == manifold_precision_recall(real["feat_pool"],
                                                                                outputs["feat_pool"])
    kid = kernel_inception_distance(outputs["feat_pool"], real["feat_pool"], subsets=10, subset_size=100)
    assert (values["KID"], values["KID_std"]) == (kid.mean, kid.std)
    assert values["FID"] > 0.5 and values["KID"] > 0


def test_metric_reference_injected_as_the_generation_task_does(reference_file) -> None:
    path, _ = reference_file
    metric = METRICS.build({"type": "FID"})
    assert metric.reference is None
    with pytest.raises(ReferenceStatsError, match="needs reference statistics"):
        metric.compute(feature_outputs(2))
    metric.reference = ReferenceStatistics.load(path)
    assert set(metric.compute(feature_outputs(2))) == {"FID"}
    assert METRICS.build({"type": "InceptionScore", "reference": metric.reference}).required == ("feat_logits",)


def test_kid_metric_records_a_reduced_subset_size(reference_file) -> None:
    path, _ = reference_file
    metric = METRICS.build({"type": "KID", "subsets": 3, "reference": str(path)})  # default subset size 1000
    with pytest.warns(UserWarning, match="reduced from 1000 to 200"):
        metric.compute(feature_outputs(2))
    assert metric.subset_size_used == 200


def test_metric_errors(reference_file, tmp_path) -> None:
    path, real = reference_file
    no_spatial = ReferenceStatistics.from_features({"pool": real["feat_pool"]}).save(tmp_path / "no_spatial.npz")
    with pytest.raises(ReferenceStatsError, match="needs spatial statistics mu_s/sigma_s"):
        METRICS.build({"type": "SFID", "reference": str(no_spatial)}).check(feature_outputs(2))
    mu, sigma = feature_statistics(real["feat_pool"])
    virtual = tmp_path / "VIRTUAL_test.npz"
    np.savez(virtual, arr_0=np.zeros((4, 8, 8, 3), np.uint8), mu=mu, sigma=sigma, mu_s=mu[:3], sigma_s=sigma[:3, :3])
    for name in ("PrecisionRecall", "KID"):
        with pytest.raises(ReferenceStatsError, match="a VIRTUAL npz holds images arr_0; the generation task "
                                                      "extracts their features once"):
            METRICS.build({"type": name, "reference": str(virtual)}).compute(feature_outputs(2))
    wide = feature_outputs(2, d=32)
    with pytest.raises(FeatureMismatchError, match="'feat_pool' has 32 dims but the reference mu .* has 16; .*"
                                                   "another extractor"):
        METRICS.build({"type": "FID", "reference": str(path)}).check(wide)
    with pytest.raises(FeatureMismatchError, match="has 32 dims .* pool features"):
        METRICS.build({"type": "PrecisionRecall", "reference": str(path)}).compute(wide)
    with pytest.raises(KeyError, match="feat_spatial"):
        METRICS.build({"type": "SFID", "reference": str(path)}).check({"feat_pool": wide["feat_pool"]})


def test_class_accuracy_guide_accuracy_and_sampling_cost_by_hand() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    outputs = {"feat_logits": logits, "class_label": torch.tensor([0, 1, 0, 2]),
               "guide_prediction": torch.tensor([0, 1, 0, 0]),
               "guided_steps": torch.tensor([52, 52, 52, 52]), "forced_steps": torch.tensor([2, 2, 2, 2]),
               "classifier_backwards": torch.tensor([52] * 4), "model_forwards": torch.tensor([250] * 4),
               "sampling_seconds": torch.tensor([0.5, 0.5, 1.0, 1.0], dtype=torch.float64),
               "on_gpu": torch.tensor([True] * 4)}
    assert METRICS.build({"type": "ClassAccuracy"}).compute(outputs) == {"accuracy": 0.5}  # rows 0 and 1: a fraction
    # Compress Guidance's own metrics (methods/compress_guidance/metrics.py), found through the registry's fallback
    assert METRICS.build({"type": "GuideAccuracy"}).compute(outputs) == {"on-sampling accuracy": 0.75}
    cost = METRICS.build({"type": "SamplingCost", "per_samples": 3600}).compute(outputs)
    assert cost["guided steps"] == 52 and cost["slot steps"] == 50 and cost["model forwards"] == 250
    assert cost["seconds per sample"] == 0.75 and cost["GPU-h"] == pytest.approx(0.75)  # 0.75 s x 3600 / 3600
    outputs["on_gpu"] = torch.tensor([True, False, True, True])
    assert "GPU-h" not in METRICS.build({"type": "SamplingCost"}).compute(outputs)  # a CPU sample: no GPU-hours
    with pytest.raises(ValueError, match="class-conditional"):
        METRICS.build({"type": "ClassAccuracy"}).compute({**outputs, "class_label": torch.tensor([0, -1, 0, 2])})
