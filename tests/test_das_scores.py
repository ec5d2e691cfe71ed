"""DAS / D-TRAK / TRAK scores (methods/das/scores.py): exact leave-one-out on ridge regression, the leverage bound,
TRAK parity with traker's own score computer, and the λ grid and its selection."""
import math

import numpy as np
import pytest
import torch
from trak.score_computers import BasicScoreComputer

from bench.methods.das.scores import (HELDOUT_LABEL, LAMBDA_GRID, PUBLISHED_LABEL, SCORE_METHODS, RidgeKernel,
                                      attribution_scores, best_over_grid, kernel_inverse, select_lambda)


def _close(actual, expected, rtol, atol):
    """np.testing.assert_allclose on tensors (torch.testing's first import costs seconds)."""
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=rtol, atol=atol)


def _features(n, k, seed, dtype=torch.float64):
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# N > k (primal), N < k (dual), and float32 features as stored (their float32 values refit in float64: only
# float64 kernel algebra inside meets 1e-8 at λ = 1e-2)
@pytest.mark.parametrize("n, d, lam, stored", [(40, 6, 0.3, np.float64), (9, 14, 2.0, np.float64),
                                                (40, 6, 1e-2, np.float32)])
def test_das0_is_the_exact_leave_one_out_change_of_ridge_regression(n, d, lam, stored):
    # y = Xw + noise, ridge fit; refit without each i and compare x_q^T (w_hat - w_hat_{-i}) with das0 (unsquared,
    # unrescaled): Sherman-Morrison makes it x_q^T (X^T X + lam I)^-1 x_i r_i / (1 - h_i) exactly.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)).astype(stored).astype(np.float64)
    y = x @ rng.normal(size=d) + 0.5 * rng.normal(size=n)
    queries = rng.normal(size=(5, d)).astype(stored).astype(np.float64)

    def fit(xs, ys):
        return np.linalg.solve(xs.T @ xs + lam * np.eye(d), xs.T @ ys)

    w_hat = fit(x, y)
    residuals = y - x @ w_hat
    loo = np.empty((5, n))
    for i in range(n):
        keep = np.arange(n) != i
        loo[:, i] = queries @ (w_hat - fit(x[keep], y[keep]))
    das0 = attribution_scores(torch.from_numpy(queries.astype(stored)), torch.from_numpy(x.astype(stored)), "das0",
                              lam, torch.from_numpy(residuals), rescale=False)
    assert das0.dtype == torch.float64 and das0.shape == (5, n)
    np.testing.assert_allclose(das0.numpy(), loo, rtol=0, atol=1e-8 * np.abs(loo).max())
    das0_sq = attribution_scores(torch.from_numpy(queries), torch.from_numpy(x), "das0_sq", lam,
                                 torch.from_numpy(residuals), rescale=False)
    np.testing.assert_allclose(das0_sq.numpy(), loo ** 2, rtol=0, atol=1e-8 * (loo ** 2).max())
    # das1 is the same change without the leverage correction: smaller in magnitude, one factor 1 - h per column
    das1 = attribution_scores(torch.from_numpy(queries), torch.from_numpy(x), "das1", lam,
                              torch.from_numpy(residuals), rescale=False).numpy()
    h = np.einsum("ij,jk,ik->i", x, np.linalg.inv(x.T @ x + lam * np.eye(d)), x)
    np.testing.assert_allclose(das1, loo * (1 - h), rtol=0, atol=1e-8 * np.abs(loo).max())


@pytest.mark.parametrize("n, k", [(60, 25), (25, 60)])
def test_scores_and_inverse_equal_an_explicit_float64_solve(n, k):
    phi, queries, lam = _features(n, k, 1), _features(7, k, 2), 0.05
    inverse = torch.linalg.inv(phi.T @ phi + lam * torch.eye(k, dtype=torch.float64))
    _close(kernel_inverse(phi, lam, rescale=False), inverse, rtol=1e-9, atol=1e-12)
    _close(kernel_inverse(phi, lam), inverse / inverse.abs().mean(), rtol=1e-9, atol=1e-12)
    expected = queries @ inverse @ phi.T
    for method in ("trak", "dtrak"):  # the same linear form; the features' model-output function differs
        _close(attribution_scores(queries, phi, method, lam, rescale=False), expected,
                                   rtol=1e-9, atol=1e-9 * float(expected.abs().max()))
    r = torch.rand(n, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    scaled = expected / inverse.abs().mean()
    das1 = attribution_scores(queries, phi, "das1", lam, r)  # one residual per training column (Q != N)
    _close(das1, scaled * r[None, :], rtol=1e-9, atol=1e-9 * float(scaled.abs().max()))
    _close(attribution_scores(queries, phi, "das1_sq", lam, r), das1 ** 2, rtol=1e-9, atol=0)


@pytest.mark.parametrize("n, k", [(30, 80), (80, 30), (50, 50)])
def test_leverage_lies_in_zero_one_and_sums_to_the_effective_dimension(n, k):
    phi = _features(n, k, 4)
    kernel = RidgeKernel(phi)
    eig = torch.linalg.eigvalsh(phi.T @ phi).clamp_min(0)
    for lam in (1e-2, 1.0, 5e6):
        h, one_minus_h = kernel.leverage(lam)
        assert bool((h >= 0).all()) and bool((h < 1).all()) and bool((one_minus_h > 0).all())
        _close(h + one_minus_h, torch.ones(n, dtype=torch.float64), rtol=0, atol=1e-12)
        # trace H = sum_j s_j / (s_j + lam)
        assert float(h.sum()) == pytest.approx(float((eig / (eig + lam)).sum()), rel=1e-9)
    # N < k at a tiny λ: every h is within 1e-4 of 1, yet 1 - h stays positive and accurate (dual form)
    if n < k:
        h, one_minus_h = kernel.leverage(1e-6)
        assert float(h.min()) > 1 - 1e-4 and bool((one_minus_h > 0).all())
    with pytest.raises(ValueError, match=r"lam = 0: the leverage h needs λ > 0"):
        kernel.leverage(0.0)


def test_squared_scores_are_non_negative_and_rescale_keeps_every_ranking():
    phi, queries = _features(200, 40, 5, torch.float32), _features(12, 40, 6, torch.float32)
    r = torch.rand(200, generator=torch.Generator().manual_seed(7))
    for method in ("das1_sq", "das0_sq"):
        assert bool((attribution_scores(queries, phi, method, 0.1, r) >= 0).all())
    kernel = RidgeKernel(phi)
    for method in SCORE_METHODS:
        residuals = r if method.startswith("das") else None
        raw = attribution_scores(queries, phi, method, 2.0, residuals, rescale=False, kernel=kernel)
        scaled = attribution_scores(queries, phi, method, 2.0, residuals, kernel=kernel)
        c = kernel.inverse_abs_mean(2.0)
        power = 2 if method.endswith("_sq") else 1
        _close(scaled, raw / c ** power, rtol=1e-10, atol=0)
        assert torch.equal(torch.argsort(scaled, dim=1, stable=True), torch.argsort(raw, dim=1, stable=True))


def _condition(phi, lam):
    eig = torch.linalg.eigvalsh(phi.double().T @ phi.double())
    return float((eig.max() + lam) / (eig.min() + lam))


@pytest.mark.parametrize("lam", [0.0, 1.0, 100.0])
def test_trak_equals_trakers_score_computer_with_its_rescale(lam):
    # traker (MadryLab) computes X^T X, inverts (X^T X + lambda I) in float32, divides by its mean |.| and scores
    # features @ targets^T [N, Q]. Its float32 inverse has a relative error up to about kappa * k * eps32
    # (normwise backward-stable inversion) on top of k-term float32 dot products, so we allow
    # kappa * k * eps32 * max|S| (kappa of the regularised kernel, computed here: below 4).
    # (traker's BasicSingleBlockScoreComputer, the unrescaled one, cannot be instantiated in traker 0.3.2: its
    # __init__ stays abstract.)
    n, k = 300, 32
    phi, queries = _features(n, k, 8, torch.float32), _features(20, k, 9, torch.float32)
    computer = BasicScoreComputer(dtype=torch.float32, device=torch.device("cpu"), lambda_reg=lam)
    theirs = torch.zeros(n, 20)
    computer.get_scores(computer.get_x_xtx_inv(phi, computer.get_xtx(phi)), queries, theirs)
    ours = attribution_scores(queries, phi, "trak", lam)
    kappa = _condition(phi, lam)
    assert kappa < 10
    tolerance = kappa * k * float(torch.finfo(torch.float32).eps) * float(ours.abs().max())
    assert float((ours - theirs.T.double()).abs().max()) <= tolerance
    assert float((ours - theirs.T.double()).abs().max()) > 0  # traker really ran in float32: not the same numbers


def test_float32_memmap_features_score_like_tensors(tmp_path):
    phi = _features(50, 16, 12, torch.float32)
    stored = np.memmap(tmp_path / "train.npy", dtype=np.float32, mode="w+", shape=(50, 16))
    stored[:] = phi.numpy()
    stored.flush()
    reread = np.memmap(tmp_path / "train.npy", dtype=np.float32, mode="r", shape=(50, 16))
    queries = _features(3, 16, 13, torch.float32)
    assert torch.equal(attribution_scores(queries, reread, "trak", 0.5), attribution_scores(queries, phi, "trak", 0.5))
    # chunks over queries do not change a number
    one_by_one = attribution_scores(queries, phi, "trak", 0.5, query_chunk=1)
    _close(one_by_one, attribution_scores(queries, phi, "trak", 0.5), rtol=1e-12, atol=0)


def test_bad_input_errors_name_the_argument_and_the_fix():
    phi, queries, r = _features(10, 20, 14), _features(2, 20, 15), torch.ones(10)
    with pytest.raises(ValueError, match=r"unknown attribution method 'das1sq'\. Did you mean 'das1_sq'"):
        attribution_scores(queries, phi, "das1sq", 1.0, r)
    with pytest.raises(ValueError, match=r"method 'das0' needs residuals: r \[N\]"):
        attribution_scores(queries, phi, "das0", 1.0)
    with pytest.raises(ValueError, match=r"residuals: method 'trak' takes none"):
        attribution_scores(queries, phi, "trak", 1.0, r)
    with pytest.raises(ValueError, match=r"residuals: expected 10 finite values .* got shape \(9,\)"):
        attribution_scores(queries, phi, "das1", 1.0, torch.ones(9))
    with pytest.raises(ValueError, match=r"query_features: k = 19 but the training features have k = 20"):
        attribution_scores(queries[:, :19], phi, "trak", 1.0)
    bad = phi.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(ValueError, match=r"train_features: row 3 holds NaN or inf"):
        attribution_scores(queries, bad, "trak", 1.0)
    with pytest.raises(ValueError, match=r"N = 10 < k = 20, so ΦᵀΦ is singular\); use λ > 0"):
        attribution_scores(queries, phi, "trak", 0.0)
    singular = torch.cat([_features(30, 4, 16), _features(30, 4, 16)], dim=1)  # N > k, rank 4 < k = 8
    with pytest.raises(ValueError, match=r"lam = 0.0: ΦᵀΦ \+ λI is not positive definite in float64"):
        attribution_scores(singular[:2], singular, "trak", 0.0)
    assert attribution_scores(singular[:2], singular, "trak", 1e-2).shape == (2, 30)
    with pytest.raises(ValueError, match=r"lam: expected a finite ridge term λ >= 0, got -1.0"):
        kernel_inverse(phi, -1.0)
    with pytest.raises(ValueError, match=r"train_features: expected a non-empty 2-D \[samples, k\]"):
        kernel_inverse(torch.ones(5), 1.0)


@pytest.mark.parametrize("n, k", [(40, 6), (9, 14)])  # primal (only the candidates' rows are read), dual
@pytest.mark.parametrize("method", ["dtrak", "das1_sq", "das0"])
def test_candidates_get_their_uncompressed_scores_and_the_rest_zero(n, k, method):
    phi, queries = _features(n, k, 17), _features(3, k, 18)
    r = _features(n, 1, 19).flatten().abs() + 0.1 if method.startswith("das") else None
    full = attribution_scores(queries, phi, method, 0.5, r)
    candidates = torch.stack([torch.randperm(n, generator=torch.Generator().manual_seed(q))[:4] for q in range(3)])
    compressed = attribution_scores(queries, phi, method, 0.5, r, candidates=candidates, query_chunk=2)
    chosen = torch.zeros(3, n, dtype=torch.bool).scatter_(1, candidates, True)
    assert (compressed[~chosen] == 0).all() and (full[~chosen] != 0).all()
    _close(compressed[chosen], full[chosen], rtol=1e-12, atol=0)
    every = torch.arange(n).flip(0).repeat(3, 1)  # all N, in any order: the uncompressed scores
    _close(attribution_scores(queries, phi, method, 0.5, r, candidates=every), full, rtol=1e-12, atol=0)


def test_bad_candidates_are_clear_errors():
    phi, queries = _features(10, 4, 20), _features(2, 4, 21)
    with pytest.raises(ValueError, match=r"candidates: expected integer training positions \[2, m\] .* got "
                                         r"torch\.float32 \[2, 3\]"):
        attribution_scores(queries, phi, "trak", 1.0, candidates=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"candidates: expected integer .* got torch\.int64 \[1, 3\]"):
        attribution_scores(queries, phi, "trak", 1.0, candidates=torch.zeros(1, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"candidates: positions must be in 0\.\.9 .* got 0\.\.10"):
        attribution_scores(queries, phi, "trak", 1.0, candidates=torch.tensor([[0, 10], [1, 2]]))
    with pytest.raises(ValueError, match=r"candidates: a query lists a training position twice"):
        attribution_scores(queries, phi, "trak", 1.0, candidates=torch.tensor([[0, 1], [2, 2]]))


def test_lambda_grid_is_the_codes_27_values_in_its_order():
    assert LAMBDA_GRID == tuple(float(f"{m}e{e}") for e in range(-2, 7) for m in (1, 2, 5))
    assert len(LAMBDA_GRID) == 27 and LAMBDA_GRID[0] == 0.01 and LAMBDA_GRID[-1] == 5e6
    assert list(LAMBDA_GRID) == sorted(LAMBDA_GRID)


def test_select_lambda_picks_the_argmax_and_records_the_table():
    seen = []

    def score_fn(lam):
        seen.append(lam)
        return torch.full((2, 3), lam, dtype=torch.float64)

    def heldout(scores):  # peaks at λ = 100, NaN at λ = 5e6 (a constant column): recorded, never chosen
        lam = float(scores[0, 0])
        return math.nan if lam == 5e6 else -(math.log10(lam) - 2) ** 2

    chosen = select_lambda(score_fn, LAMBDA_GRID, heldout)
    assert seen == list(LAMBDA_GRID)
    assert chosen.lam == 100.0 and chosen.metric == 0.0 and chosen.label == HELDOUT_LABEL
    assert [lam for lam, _ in chosen.table] == list(LAMBDA_GRID)
    assert chosen.table[0] == (0.01, -16.0) and math.isnan(chosen.table[-1][1])
    # ties: the first λ of the grid wins (07_score.py's strict '>')
    flat = best_over_grid(score_fn, (2.0, 1.0, 3.0), lambda s: 0.5 if float(s[0, 0]) < 3 else 0.1)
    assert (flat.lam, flat.metric, flat.label) == (2.0, 0.5, PUBLISHED_LABEL)
    assert PUBLISHED_LABEL == "selected on test, as published"
    with pytest.raises(ValueError, match=r"no λ of the grid gave a finite metric"):
        select_lambda(score_fn, (1.0, 2.0), lambda s: math.nan)
    with pytest.raises(ValueError, match=r"grid: expected at least one λ"):
        select_lambda(score_fn, (), heldout)
