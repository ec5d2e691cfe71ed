"""Attribution scores on projected per-sample features: TRAK, D-TRAK and DAS (``das1``, ``das1_sq``, ``das0``,
``das0_sq``), and the choice of the ridge term λ over the code's grid.

Read from ``Jinxu-Lin/DAS`` ``CIFAR2/07_score.py`` (scoring), ``sail-sg/D-TRAK`` ``CIFAR2/methods/04_if``
(TRAK / D-TRAK LDS notebooks) and traker's ``trak/score_computers.py``; written anew. With Φ [N, k] the projected
training features, G [Q, k] the query features and K_λ = ΦᵀΦ + λI:

- ``trak`` / ``dtrak``: S = G K_λ⁻¹ Φᵀ [Q, N]. The two are the same linear form; they differ only in the
  model-output function the features were computed with (TRAK: the training loss ``mse``; D-TRAK:
  ``mean-squared-l2-norm`` ‖ε_θ‖²/d; DAS: ``mean``), which the features module chooses, not this one.
- ``das1`` = S ⊙ r (r [N]: the per-training-sample residual, one factor per training column), ``das1_sq`` = (S ⊙ r)².
- ``das0`` = S ⊙ r / (1 − h) with the leverage h_i = φ_iᵀ K_λ⁻¹ φ_i over the training features (the
  Sherman–Morrison leave-one-out step), ``das0_sq`` its square.
- with ``candidates`` (dataset compression, :mod:`bench.methods.das.compression`): the same scores at each query's
  candidate columns, 0 elsewhere.

Deviations from the code, each on purpose:

- ``07_score.py`` multiplies ``scores [Q, N] * error_train.unsqueeze(1) [N, 1]``: that broadcasts only when Q == N
  (1,000 queries against 5,000 training samples raises); the intent, one residual per training column, is
  ``r.unsqueeze(0)`` and is what ``das1`` does.
- The code's ``DAS0`` builds the "hat" diagonal from the query × train matrix ``diag(G K⁻¹ Φᵀ)`` (a query's score
  on the training sample with the same index, meaningless), reads the undefined ``args.dim`` (AttributeError), and
  divides the unsquared score by (1 − h)²; the leave-one-out change is S r/(1 − h) (one power), so ``das0`` divides
  once and ``das0_sq`` squares the whole quotient. h is taken from the *unrescaled* inverse (see
  :meth:`RidgeKernel.leverage`: the code's mean-absolute-value rescale would put h outside [0, 1)).
- Kernel algebra is float64, not the code's float32 ``torch.linalg.inv``: the condition number of K_λ is
  (σ²_max + λ)/(σ²_min + λ) ≤ 1 + Σ‖φ_i‖²/λ, and traker's projector does not scale by 1/√k, so
  ‖φ_i‖² ≈ k‖g_i‖² ≤ k for the averaged unit-norm per-t gradients: up to 1 + N·k/λ ≈ 1.6e10 on CIFAR-2 (N = 5,000,
  k = 32,768) at λ = 1e-2, far past float32's 1/ε ≈ 1.7e7 (no correct digit left), while float64 keeps ~6; and
  1 − h for small λ is a difference of numbers close to 1.
- The Gram matrix is built once per training set and each λ takes one Cholesky solve instead of an explicit
  inverse; when N < k (CIFAR-2: 5,000 samples, k = 32,768) the N × N dual ΦΦᵀ is factorised instead
  (K_λ⁻¹Φᵀ = Φᵀ(ΦΦᵀ + λI)⁻¹), so a k × k matrix is formed only to be returned or to take the rescale's mean.

The rescale (the code divides K_λ⁻¹ by its mean absolute value, as traker does before going to float16) multiplies
every score by one positive constant per λ, so it changes no ranking and no LDS; it is kept (``rescale=True``) so
the scores' magnitudes match the code's.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bench.suggest import suggest

# {1, 2, 5} × 10^e, e = -2 … 6, in the order 07_score.py lists them (ascending).
LAMBDA_GRID: tuple[float, ...] = (
    1e-2, 2e-2, 5e-2, 1e-1, 2e-1, 5e-1, 1e0, 2e0, 5e0, 1e1, 2e1, 5e1, 1e2, 2e2, 5e2,
    1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6,
)
SCORE_METHODS = ("trak", "dtrak", "das1", "das1_sq", "das0", "das0_sq")
HELDOUT_LABEL = "selected on held-out queries"
PUBLISHED_LABEL = "selected on test, as published"

_ROW_CHUNK = 8192


def _as_features(features: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """A 2-D finite float tensor view of ``features`` (a tensor, an array or a memmap), or a ValueError naming it."""
    if isinstance(features, torch.Tensor):
        tensor = features
    else:
        with warnings.catch_warnings():  # a read-only memmap: never written here, so torch's warning is moot
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            tensor = torch.as_tensor(np.asarray(features))
    if tensor.ndim != 2 or tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D [samples, k] feature matrix, got shape "
                         f"{tuple(tensor.shape)}; pass the projected features one row per sample.")
    if not tensor.is_floating_point():
        raise ValueError(f"{name}: expected float features, got {tensor.dtype}.")
    if not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).any(dim=1).nonzero()[0])
        raise ValueError(f"{name}: row {bad} holds NaN or inf; recompute that sample's features (a diverged model "
                         "or an overflow in the projection).")
    return tensor


def _check_lambda(lam: float) -> float:
    lam = float(lam)
    if not math.isfinite(lam) or lam < 0:
        raise ValueError(f"lam: expected a finite ridge term λ >= 0, got {lam}; use a value of LAMBDA_GRID.")
    return lam


class RidgeKernel:
    """The training features' Gram matrix in float64, built once per training set, and K_λ⁻¹ = (ΦᵀΦ + λI)⁻¹
    products from one Cholesky factorisation per λ (the last λ's factor is kept).

    N >= k (primal): the k × k ΦᵀΦ; S = (G K_λ⁻¹) Φᵀ. N < k (dual): the N × N ΦΦᵀ, with K_λ⁻¹Φᵀ =
    Φᵀ(ΦΦᵀ + λI)⁻¹, so S = (G Φᵀ)(ΦΦᵀ + λI)⁻¹ and a k × k matrix is only formed to be returned or averaged
    (CIFAR-2: N = 5,000, k = 32,768). Cholesky per λ rather than one eigendecomposition for the whole grid:
    measured at k = 512 on 2 loaded CPU cores, one float64 ``eigh`` took 0.8–2.6 s and one Cholesky factorisation
    0.01–0.03 s, so even the 27-value grid is cheaper factorised, and a single λ much cheaper.
    """

    def __init__(self, train_features: torch.Tensor | np.ndarray) -> None:
        phi = _as_features(train_features, "train_features")
        self.features = phi
        self.num_train, self.dim = int(phi.shape[0]), int(phi.shape[1])
        self.dual = self.num_train < self.dim
        self.device = phi.device
        if self.dual:
            self.features64: torch.Tensor | None = phi.to(torch.float64)
            self.gram = self.features64 @ self.features64.T
        else:
            self.features64 = None  # Φ may be a large float32 memmap: float64 one chunk at a time
            self.gram = torch.zeros(self.dim, self.dim, dtype=torch.float64, device=self.device)
            for block in self._train_blocks():
                self.gram += block.T @ block
        self._factor: tuple[float, torch.Tensor] | None = None

    def _train_blocks(self) -> Iterator[torch.Tensor]:
        """Φ in float64, ``_ROW_CHUNK`` training rows at a time."""
        for start in range(0, self.num_train, _ROW_CHUNK):
            yield self.features[start:start + _ROW_CHUNK].to(device=self.device, dtype=torch.float64)

    def factor(self, lam: float) -> torch.Tensor:
        """The lower Cholesky factor of ΦᵀΦ + λI (primal) or ΦΦᵀ + λI (dual), float64."""
        lam = _check_lambda(lam)
        if self._factor is not None and self._factor[0] == lam:
            return self._factor[1]
        if self.dual and lam == 0.0:
            raise ValueError(f"lam = 0: ΦᵀΦ + λI is not invertible (N = {self.num_train} < k = {self.dim}, so ΦᵀΦ "
                             "is singular); use λ > 0, e.g. a value of LAMBDA_GRID.")
        regularised = self.gram.clone()
        regularised.diagonal().add_(lam)
        chol, info = torch.linalg.cholesky_ex(regularised)
        # A pivot below 1e-12 of the largest diagonal entry is rounding noise of a zero one: singular in float64.
        scale = float(regularised.diagonal().max())
        if int(info) != 0 or float(chol.diagonal().square().min()) <= 1e-12 * scale:
            raise ValueError(f"lam = {lam}: ΦᵀΦ + λI is not positive definite in float64 (ΦᵀΦ is singular or "
                             f"nearly so, largest diagonal entry {scale:.3g}); use a larger λ (a value of "
                             "LAMBDA_GRID).")
        self._factor = (lam, chol)
        return chol

    def inverse_rows(self, lam: float, rows: slice) -> torch.Tensor:
        """Rows ``rows`` of the unrescaled K_λ⁻¹ (float64 [len(rows), k]); K_λ⁻¹ is symmetric, so these are its
        columns: primal K_λ⁻¹ E, dual (E − Φᵀ(ΦΦᵀ + λI)⁻¹Φ E)/λ (Woodbury), E the identity's columns ``rows``."""
        start, stop, _ = rows.indices(self.dim)
        chol = self.factor(lam)
        if not self.dual:
            unit = torch.zeros(self.dim, stop - start, dtype=torch.float64, device=self.device)
            local = torch.arange(stop - start, device=self.device)
            unit[local + start, local] = 1.0
            return torch.cholesky_solve(unit, chol).T
        assert self.features64 is not None
        block = self.features64[:, start:stop]                           # Φ E [N, rows]
        out = -(torch.cholesky_solve(block, chol).T @ self.features64)  # -(Φ E)ᵀ (ΦΦᵀ + λI)⁻¹ Φ
        local = torch.arange(stop - start, device=self.device)
        out[local, local + start] += 1.0
        return out / lam

    def inverse_abs_mean(self, lam: float) -> float:
        """mean |K_λ⁻¹| over its k² entries, a row block at a time (the code's rescale divisor)."""
        total = 0.0
        for start in range(0, self.dim, _ROW_CHUNK):
            total += float(self.inverse_rows(lam, slice(start, start + _ROW_CHUNK)).abs().sum())
        return total / (self.dim * self.dim)

    def inverse(self, lam: float, rescale: bool = True) -> torch.Tensor:
        """K_λ⁻¹ (float64 [k, k]), divided by its mean absolute value when ``rescale`` (as 07_score.py does)."""
        inv = torch.cat([self.inverse_rows(lam, slice(s, s + _ROW_CHUNK)) for s in range(0, self.dim, _ROW_CHUNK)])
        return inv / inv.abs().mean() if rescale else inv

    def scores(self, query_features: torch.Tensor, lam: float) -> torch.Tensor:
        """S = G K_λ⁻¹ Φᵀ, unrescaled, float64 [Q, N]."""
        chol = self.factor(lam)
        queries = query_features.to(device=self.device, dtype=torch.float64)
        if self.dual:
            assert self.features64 is not None
            return torch.cholesky_solve((queries @ self.features64.T).T, chol).T
        solved = torch.cholesky_solve(queries.T, chol).T                  # G K_λ⁻¹ [Q, k]
        return torch.cat([solved @ block.T for block in self._train_blocks()], dim=1)

    def scores_at(self, query_features: torch.Tensor, lam: float, columns: torch.Tensor) -> torch.Tensor:
        """S restricted to each query's own training columns: float64 [Q, m], entry (q, j) = S[q, columns[q, j]]
        (``columns`` int [Q, m]). Primal: G K_λ⁻¹ once, then each query's m training rows only (Q·m·k instead of
        Q·N·k multiply-adds); dual: the full rows, then the columns (S = (GΦᵀ)(ΦΦᵀ + λI)⁻¹ needs GΦᵀ whole)."""
        if self.dual:
            return torch.gather(self.scores(query_features, lam), 1, columns.to(self.device))
        chol = self.factor(lam)
        queries = query_features.to(device=self.device, dtype=torch.float64)
        solved = torch.cholesky_solve(queries.T, chol).T                  # G K_λ⁻¹ [Q, k]
        return torch.stack([self.features[row].to(device=self.device, dtype=torch.float64) @ solved[q]
                            for q, row in enumerate(columns.to(self.device))])

    def leverage(self, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, 1 − h), float64 [N]: h_i = φ_iᵀ K_λ⁻¹ φ_i with the unrescaled inverse.

        h ∈ [0, 1) for λ > 0: h_i is the i-th diagonal entry of H = Φ(ΦᵀΦ + λI)⁻¹Φᵀ. With the thin SVD
        Φ = W Σ Qᵀ (W [N, r] orthonormal columns), H = W diag(σ_j²/(σ_j² + λ)) Wᵀ, so
        h_i = Σ_j W_ij² σ_j²/(σ_j² + λ): a sum of non-negative terms (h_i ≥ 0), bounded by
        σ²_max/(σ²_max + λ) · Σ_j W_ij² ≤ σ²_max/(σ²_max + λ) < 1, since the rows of a matrix with orthonormal
        columns have norm ≤ 1. Rescaling K_λ⁻¹ by 1/c multiplies h by 1/c and breaks the bound, so the rescale
        never applies here. In the dual form I − H = λ(ΦΦᵀ + λI)⁻¹, so 1 − h_i = λ[(ΦΦᵀ + λI)⁻¹]_ii is computed
        without cancellation (h → 1 when N < k and λ → 0).
        """
        lam = _check_lambda(lam)
        if lam == 0.0:
            raise ValueError("lam = 0: the leverage h needs λ > 0 (with λ = 0, h_i can be exactly 1 and "
                             "1/(1 − h) is infinite); use a value of LAMBDA_GRID.")
        chol = self.factor(lam)
        if self.dual:
            inverse = torch.cholesky_inverse(chol)
            return (self.gram * inverse).sum(dim=1), lam * inverse.diagonal()
        h = torch.cat([torch.linalg.solve_triangular(chol, block.T, upper=False).square().sum(dim=0)
                       for block in self._train_blocks()])                 # ‖L⁻¹φ_i‖²
        return h, 1.0 - h


def kernel_inverse(train_features: torch.Tensor | np.ndarray, lam: float, rescale: bool = True) -> torch.Tensor:
    """(ΦᵀΦ + λI)⁻¹ as float64 [k, k]; with ``rescale`` divided by its mean absolute value, as 07_score.py's
    ``get_A_inv`` (and traker's ``get_x_xtx_inv``) do.

    Args:
        train_features: Φ [N, k], the projected training features (float32 as stored, or float64).
        lam: the ridge term λ ≥ 0 (λ > 0 when N < k or ΦᵀΦ is singular).
        rescale: divide by mean |K_λ⁻¹| (a positive constant: no ranking changes).
    """
    return RidgeKernel(train_features).inverse(lam, rescale=rescale)


def attribution_scores(query_features: torch.Tensor | np.ndarray, train_features: torch.Tensor | np.ndarray,
                       method: str, lam: float, residuals: torch.Tensor | np.ndarray | None = None, *,
                       rescale: bool = True, kernel: RidgeKernel | None = None,
                       query_chunk: int = 1024, candidates: torch.Tensor | None = None) -> torch.Tensor:
    """Attribution scores float64 [Q, N] of every query on every training sample (a higher score: the training
    sample helps the query more; the LDS flips the sign for losses).

    Args:
        query_features: G [Q, k] projected query features.
        train_features: Φ [N, k] projected training features (same projector and model-output function).
        method: one of :data:`SCORE_METHODS` (see the module docstring for each formula).
        lam: the ridge term λ of K_λ = ΦᵀΦ + λI.
        residuals: r [N], required by the ``das*`` methods (the features module's per-training-sample residual).
        rescale: divide K_λ⁻¹ by its mean absolute value as the code does (the leverage never is).
        kernel: a :class:`RidgeKernel` of ``train_features`` already built (reused across a λ grid).
        query_chunk: queries scored at a time (memory: query_chunk × N float64).
        candidates: dataset compression (:mod:`bench.methods.das.compression`): int [Q, m] distinct training
            positions per query; only those are scored (:meth:`RidgeKernel.scores_at`, with the same kernel, rescale
            and r or r/(1 − h) as without), every other entry is 0.
    """
    if method not in SCORE_METHODS:
        raise ValueError(f"method: unknown attribution method {method!r}.{suggest(method, SCORE_METHODS)} "
                         f"Choices: {', '.join(SCORE_METHODS)}.")
    lam = _check_lambda(lam)
    queries = _as_features(query_features, "query_features")
    kernel = kernel if kernel is not None else RidgeKernel(train_features)
    if queries.shape[1] != kernel.dim:
        raise ValueError(f"query_features: k = {queries.shape[1]} but the training features have k = {kernel.dim}; "
                         "project both with the same projector and projection dimension.")
    if query_chunk < 1:
        raise ValueError(f"query_chunk: expected a positive number of queries per chunk, got {query_chunk}.")
    r = None
    if method.startswith("das"):
        if residuals is None:
            raise ValueError(f"method {method!r} needs residuals: r [N] per training sample (the features module's "
                             "train_residuals); trak and dtrak need none.")
        r = torch.as_tensor(np.asarray(residuals) if not isinstance(residuals, torch.Tensor) else residuals)
        if r.shape != (kernel.num_train,) or not bool(torch.isfinite(r).all()):
            raise ValueError(f"residuals: expected {kernel.num_train} finite values (one per training sample), got "
                             f"shape {tuple(r.shape)}{'' if bool(torch.isfinite(r).all()) else ' with NaN/inf'}.")
        r = r.to(device=kernel.device, dtype=torch.float64)
    elif residuals is not None:
        raise ValueError(f"residuals: method {method!r} takes none (only the das* methods weight by r); drop them "
                         "or pick a das method.")
    if candidates is not None:
        candidates = _check_candidates(candidates, queries.shape[0], kernel.num_train).to(kernel.device)
    scale = 1.0 / kernel.inverse_abs_mean(lam) if rescale else 1.0
    column = None  # the per-training-column factor: r, or r/(1 − h)
    if r is not None:
        column = r
        if method.startswith("das0"):
            _, one_minus_h = kernel.leverage(lam)
            column = r / one_minus_h
    shape = (queries.shape[0], kernel.num_train)
    out = (torch.zeros if candidates is not None else torch.empty)(shape, dtype=torch.float64, device=kernel.device)
    for start in range(0, queries.shape[0], query_chunk):
        chunk = queries[start:start + query_chunk]
        if candidates is None:
            s = kernel.scores(chunk, lam) * scale
            factor = column
        else:
            where = candidates[start:start + query_chunk]
            s = kernel.scores_at(chunk, lam, where) * scale
            factor = None if column is None else column[where]
        if factor is not None:
            s = s * factor
            if method.endswith("_sq"):
                s = s.square()
        if candidates is None:
            out[start:start + query_chunk] = s
        else:
            out[start:start + query_chunk].scatter_(1, where, s)
    return out


def _check_candidates(candidates: torch.Tensor | np.ndarray, num_queries: int, num_train: int) -> torch.Tensor:
    """int64 [Q, m] of distinct training positions per query, or a ValueError saying what is wrong."""
    rows = torch.as_tensor(np.asarray(candidates) if not isinstance(candidates, torch.Tensor) else candidates)
    if rows.ndim != 2 or rows.shape[0] != num_queries or rows.shape[1] == 0 or rows.is_floating_point() \
            or rows.dtype == torch.bool:
        raise ValueError(f"candidates: expected integer training positions [{num_queries}, m] (m >= 1, one row per "
                         f"query), got {rows.dtype} {list(rows.shape)}")
    rows = rows.long()
    if int(rows.min()) < 0 or int(rows.max()) >= num_train:
        raise ValueError(f"candidates: positions must be in 0..{num_train - 1} (the training set), got "
                         f"{int(rows.min())}..{int(rows.max())}")
    ordered = rows.sort(dim=1).values
    if bool((ordered[:, 1:] == ordered[:, :-1]).any()):
        raise ValueError("candidates: a query lists a training position twice; give distinct positions per row")
    return rows


@dataclass(frozen=True)
class LambdaSelection:
    """The chosen λ, its metric, the metric of every λ tried (grid order; NaN where undefined) and how it was
    chosen (:data:`HELDOUT_LABEL` or :data:`PUBLISHED_LABEL`)."""

    lam: float
    metric: float
    table: tuple[tuple[float, float], ...]
    label: str


def _argmax_over_grid(score_fn: Callable[[float], torch.Tensor], grid: Sequence[float],
                      evaluate: Callable[[torch.Tensor], float], label: str) -> LambdaSelection:
    if len(grid) == 0:
        raise ValueError("grid: expected at least one λ; use LAMBDA_GRID.")
    table = []
    for lam in grid:
        table.append((float(lam), float(evaluate(score_fn(float(lam))))))
    finite = [(lam, value) for lam, value in table if math.isfinite(value)]
    if not finite:
        raise ValueError(f"no λ of the grid gave a finite metric ({label}): every entry is NaN/inf; check the "
                         "query set (constant ground truth?) and the features.")
    best_lam, best_value = finite[0]
    for lam, value in finite[1:]:  # strict '>' keeps the first of equal values, as 07_score.py does
        if value > best_value:
            best_lam, best_value = lam, value
    return LambdaSelection(lam=best_lam, metric=best_value, table=tuple(table), label=label)


def select_lambda(score_fn: Callable[[float], torch.Tensor], grid: Sequence[float],
                  heldout_eval: Callable[[torch.Tensor], float]) -> LambdaSelection:
    """λ maximising a held-out metric: ``heldout_eval(score_fn(λ))`` for every λ of ``grid``.

    Args:
        score_fn: λ → scores of the held-out queries (e.g. :func:`attribution_scores` with a shared kernel).
        grid: the λ values, tried in order (first of equal metrics wins); usually :data:`LAMBDA_GRID`.
        heldout_eval: scores → metric to maximise (the LDS on the held-out query split). NaN entries are kept in
            the table and never chosen.
    """
    return _argmax_over_grid(score_fn, grid, heldout_eval, HELDOUT_LABEL)


def best_over_grid(score_fn: Callable[[float], torch.Tensor], grid: Sequence[float],
                   test_eval: Callable[[torch.Tensor], float]) -> LambdaSelection:
    """The code's protocol, for parity only: the best metric over ``grid`` on the evaluation queries themselves,
    labelled :data:`PUBLISHED_LABEL` (optimistic: λ is tuned on the numbers it reports)."""
    return _argmax_over_grid(score_fn, grid, test_eval, PUBLISHED_LABEL)
