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

Deviations from the code, each on purpose:

- ``07_score.py`` multiplies ``scores [Q, N] * error_train.unsqueeze(1) [N, 1]``: that broadcasts only when Q == N
  (1,000 queries against 5,000 training samples raises); the intent, one residual per training column, is
  ``r.unsqueeze(0)`` and is what ``das1`` does.
- The code's ``DAS0`` builds the "hat" diagonal from the query × train matrix ``diag(G K⁻¹ Φᵀ)`` (a query's score
  on the training sample with the same index, meaningless), reads the undefined ``args.dim`` (AttributeError), and
  divides the unsquared score by (1 − h)²; the leave-one-out change is S r/(1 − h) (one power), so ``das0`` divides
  once and ``das0_sq`` squares the whole quotient. h is taken from the *unrescaled* inverse (see
  :meth:`RidgeKernel.leverage`: the code's mean-absolute-value rescale would put h outside [0, 1)).
- Kernel algebra is float64, not the code's float32 ``torch.linalg.inv``: across the grid λ ∈ [1e-2, 5e6] the
  condition number of K_λ reaches σ²_max/λ (about 1e6–1e8 for unit-norm-ish features), where a float32 inverse
  (ε ≈ 6e-8) keeps no correct digit, and 1 − h for small λ is a difference of numbers close to 1.
- One eigendecomposition per training set serves every λ of the grid (the code inverts K_λ 27 times); when N < k
  (CIFAR-2: 5,000 samples, k = 32,768) the N × N dual ΦΦᵀ is decomposed instead (K_λ⁻¹Φᵀ = Φᵀ(ΦΦᵀ + λI)⁻¹), so a
  k × k matrix is never formed except to return it or to take the rescale's mean.

The rescale (the code divides K_λ⁻¹ by its mean absolute value, as traker does before going to float16) multiplies
every score by one positive constant per λ, so it changes no ranking and no LDS; it is kept (``rescale=True``) so
the scores' magnitudes match the code's.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
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
    """The training features' Gram matrix, eigendecomposed once in float64, giving K_λ⁻¹ = (ΦᵀΦ + λI)⁻¹ products
    for any λ (one decomposition for the whole λ grid).

    N >= k (primal): ΦᵀΦ = V diag(s) Vᵀ, K_λ⁻¹ = V diag(1/(s+λ)) Vᵀ, and the query side is G V, the train side
    R = Φ V, so S = (G V) diag(1/(s+λ)) Rᵀ.
    N < k (dual): ΦΦᵀ = U diag(s) Uᵀ and K_λ⁻¹Φᵀ = Φᵀ(ΦΦᵀ + λI)⁻¹ = P diag(1/(s+λ)) Uᵀ with P = ΦᵀU, so the
    query side is G P, the train side R = U; K_λ⁻¹ itself is (I − P diag(1/(s+λ)) Pᵀ)/λ (needs λ > 0).
    """

    def __init__(self, train_features: torch.Tensor | np.ndarray) -> None:
        phi = _as_features(train_features, "train_features")
        self.num_train, self.dim = int(phi.shape[0]), int(phi.shape[1])
        self.dual = self.num_train < self.dim
        device = phi.device
        if self.dual:
            phi64 = phi.to(torch.float64)
            gram = phi64 @ phi64.T
        else:
            gram = torch.zeros(self.dim, self.dim, dtype=torch.float64, device=device)
            for block in torch.split(phi, _ROW_CHUNK):  # float64 one chunk at a time: Φ may be a float32 memmap
                block = block.to(torch.float64)
                gram += block.T @ block
        eigvals, eigvecs = torch.linalg.eigh(gram)
        # ΦᵀΦ is PSD; rounding can leave its null directions at -1e-13: they are 0.
        self.eigvals = eigvals.clamp_min(0.0)
        if self.dual:
            self.train_side = eigvecs                     # U [N, N]
            self.query_map = phi64.T @ eigvecs            # P = ΦᵀU [k, N]
        else:
            self.query_map = eigvecs                      # V [k, k]
            self.train_side = torch.cat([b.to(torch.float64) @ eigvecs for b in torch.split(phi, _ROW_CHUNK)])

    def _weights(self, lam: float) -> torch.Tensor:
        lam = _check_lambda(lam)
        # Eigenvalues below 1e-12·s_max are rounding noise: with λ = 0 they make K_λ numerically singular.
        smallest = 0.0 if self.dual else float(self.eigvals.min())
        if lam + smallest <= 1e-12 * float(self.eigvals.max()):
            why = (f"N = {self.num_train} < k = {self.dim}, so ΦᵀΦ is singular" if self.dual
                   else "ΦᵀΦ has a zero eigenvalue")
            raise ValueError(f"lam = {lam}: ΦᵀΦ + λI is not invertible ({why}); use λ > 0, e.g. a value of "
                             "LAMBDA_GRID.")
        return 1.0 / (self.eigvals + lam)

    def inverse_rows(self, lam: float, rows: slice) -> torch.Tensor:
        """Rows ``rows`` of the unrescaled K_λ⁻¹ (float64 [len(rows), k])."""
        weights = self._weights(lam)
        if not self.dual:
            block = self.query_map[rows]
            return (block * weights) @ self.query_map.T
        start, stop, _ = rows.indices(self.dim)
        out = -(self.query_map[start:stop] * weights) @ self.query_map.T
        local = torch.arange(stop - start, device=out.device)
        out[local, local + start] += 1.0
        return out / lam

    def inverse_abs_mean(self, lam: float) -> float:
        """mean |K_λ⁻¹| over all k² entries, built a row block at a time (the code's rescale divisor)."""
        total = 0.0
        for start in range(0, self.dim, _ROW_CHUNK):
            total += float(self.inverse_rows(lam, slice(start, start + _ROW_CHUNK)).abs().sum())
        return total / (self.dim * self.dim)

    def inverse(self, lam: float, rescale: bool = True) -> torch.Tensor:
        """K_λ⁻¹ (float64 [k, k]), divided by its mean absolute value when ``rescale`` (as 07_score.py does)."""
        inv = torch.cat([self.inverse_rows(lam, slice(s, s + _ROW_CHUNK)) for s in range(0, self.dim, _ROW_CHUNK)])
        return inv / inv.abs().mean() if rescale else inv

    def project_queries(self, query_features: torch.Tensor) -> torch.Tensor:
        """The query side of S: G V (primal) or G ΦᵀU (dual), float64 [Q, rank]."""
        return query_features.to(torch.float64) @ self.query_map

    def scores(self, projected_queries: torch.Tensor, lam: float) -> torch.Tensor:
        """S = G K_λ⁻¹ Φᵀ (unrescaled, float64 [Q, N]) from :meth:`project_queries`' output."""
        return (projected_queries * self._weights(lam)) @ self.train_side.T

    def leverage(self, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(h, 1 − h), float64 [N]: h_i = φ_iᵀ K_λ⁻¹ φ_i with the unrescaled inverse.

        h ∈ [0, 1) for λ > 0: h_i is the i-th diagonal entry of H = Φ(ΦᵀΦ + λI)⁻¹Φᵀ. With the thin SVD
        Φ = W Σ Qᵀ (W [N, r] orthonormal columns), H = W diag(σ_j²/(σ_j² + λ)) Wᵀ, so
        h_i = Σ_j W_ij² σ_j²/(σ_j² + λ): a sum of non-negative terms (h_i ≥ 0), bounded by
        σ²_max/(σ²_max + λ) · Σ_j W_ij² ≤ σ²_max/(σ²_max + λ) < 1, since the rows of a matrix with orthonormal
        columns have norm ≤ 1. Rescaling K_λ⁻¹ by 1/c multiplies h by 1/c and breaks the bound, so the rescale
        never applies here. In the dual form U is square orthogonal (Σ_j U_ij² = 1), so
        1 − h_i = λ Σ_j U_ij²/(s_j + λ) is computed without cancellation.
        """
        lam = _check_lambda(lam)
        if lam == 0.0:
            raise ValueError("lam = 0: the leverage h needs λ > 0 (with λ = 0, h_i can be exactly 1 and "
                             "1/(1 − h) is infinite); use a value of LAMBDA_GRID.")
        weights = self._weights(lam)
        squares = self.train_side.square()
        if self.dual:
            return squares @ (self.eigvals * weights), lam * (squares @ weights)
        h = squares @ weights
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
                       query_chunk: int = 1024) -> torch.Tensor:
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
        r = r.to(device=kernel.train_side.device, dtype=torch.float64)
    elif residuals is not None:
        raise ValueError(f"residuals: method {method!r} takes none (only the das* methods weight by r); drop them "
                         "or pick a das method.")
    scale = 1.0 / kernel.inverse_abs_mean(lam) if rescale else 1.0
    column = None  # the per-training-column factor: r, or r/(1 − h)
    if r is not None:
        column = r
        if method.startswith("das0"):
            _, one_minus_h = kernel.leverage(lam)
            column = r / one_minus_h
    out = torch.empty(queries.shape[0], kernel.num_train, dtype=torch.float64, device=kernel.train_side.device)
    for start in range(0, queries.shape[0], query_chunk):
        block = queries[start:start + query_chunk].to(kernel.train_side.device)
        s = kernel.scores(kernel.project_queries(block), lam) * scale
        if column is not None:
            s = s * column
            if method.endswith("_sq"):
                s = s.square()
        out[start:start + query_chunk] = s
    return out


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
