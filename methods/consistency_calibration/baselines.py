"""Baseline calibrators of the CC sheet, fitted on validation logits and applied to test logits.

Scaling methods return logits (so NLL uses an exact log-softmax); binning and ensemble methods return
probabilities. Histogram binning and BBQ use netcal, whose multi-class versions are one-vs-all with
normalisation (Zadrozny & Elkan 2002; Guo et al. 2017's histogram binning baseline). The calibrator library's
own histogram binning rescales a whole probability vector and then renormalises it, which returns the
input unchanged, so it is not the reference here.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import optimize

from bench.methods.consistency_calibration.calibrator import CALIBRATORS, Calibrator


def _nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels.long())


@CALIBRATORS.register_module()
class Uncalibrated(Calibrator):
    """The classifier's own softmax: the reference row of every calibration table."""

    output = "logits"

    def calibrate(self, logits: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        return logits


@CALIBRATORS.register_module()
class TemperatureScaling(Calibrator):
    """Guo et al. 2017: logits / T with T minimising validation NLL (bounded 1-D search on log T, float64).

    The NLL is convex in 1/T, so the bounded scalar search finds the optimum that a fine grid search (the
    sheet's reference) approximates; the calibrator library instead runs Adam for up to 2,000 steps.
    """

    output = "logits"

    def __init__(self, bounds: tuple[float, float] = (0.05, 20.0)) -> None:
        self.bounds = bounds
        self.temperature: float | None = None

    def fit(self, logits: torch.Tensor, labels: torch.Tensor, seeds: torch.Tensor | None = None
            ) -> TemperatureScaling:
        z, y = logits.double(), labels.long()
        lo, hi = np.log(self.bounds[0]), np.log(self.bounds[1])
        result = optimize.minimize_scalar(lambda log_t: float(_nll(z / np.exp(log_t), y)), bounds=(lo, hi),
                                          method="bounded", options={"xatol": 1e-8})
        self.temperature = float(np.exp(result.x))
        return self

    def calibrate(self, logits: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        if self.temperature is None:
            raise RuntimeError("TemperatureScaling is not fitted")
        return logits / self.temperature

    def fitted_values(self) -> dict[str, float]:
        return {} if self.temperature is None else {"temperature": self.temperature}


@CALIBRATORS.register_module()
class VectorScaling(Calibrator):
    """Guo et al. 2017: per-class scale w and bias b (z * w + b) minimising validation NLL (L-BFGS, float64).

    Optimised to convergence (strong-Wolfe L-BFGS); the calibrator library stops after 50 L-BFGS iterations at
    lr 0.01, which usually leaves it short of the optimum.
    """

    output = "logits"

    def __init__(self, bias: bool = True, max_iter: int = 500) -> None:
        self.bias, self.max_iter = bias, max_iter
        self.weight: torch.Tensor | None = None
        self.offset: torch.Tensor | None = None

    def fit(self, logits: torch.Tensor, labels: torch.Tensor, seeds: torch.Tensor | None = None) -> VectorScaling:
        z, y = logits.detach().double().cpu(), labels.long().cpu()
        weight = torch.ones(z.shape[1], dtype=torch.float64, requires_grad=True)
        offset = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=self.bias)
        params = [weight, offset] if self.bias else [weight]
        optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=self.max_iter, tolerance_grad=1e-10,
                                      tolerance_change=1e-14, history_size=20, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = _nll(z * weight + offset, y)
            loss.backward()
            return loss

        with torch.enable_grad():
            optimizer.step(closure)
        self.weight, self.offset = weight.detach(), offset.detach()
        return self

    def calibrate(self, logits: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        if self.weight is None or self.offset is None:
            raise RuntimeError("VectorScaling is not fitted")
        weight, offset = self.weight.to(logits), self.offset.to(logits)
        return logits * weight + offset


class _NetcalCalibrator(Calibrator):
    """A netcal calibrator fitted on softmax probabilities (float64) with integer labels."""

    output = "probs"

    def build(self):  # noqa: ANN201 - a netcal object
        raise NotImplementedError

    def fit(self, logits: torch.Tensor, labels: torch.Tensor, seeds: torch.Tensor | None = None
            ) -> _NetcalCalibrator:
        self.model = self.build()
        self.model.fit(torch.softmax(logits.double(), 1).cpu().numpy(), labels.long().cpu().numpy())
        return self

    def calibrate(self, logits: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        with np.errstate(invalid="ignore", divide="ignore"):
            probs = torch.from_numpy(np.asarray(self.model.transform(torch.softmax(logits.double(), 1).cpu().numpy())))
        # netcal normalises the one-vs-all outputs by their sum, which is 0/0 when every class's bin frequency is
        # 0 (the sample's bins held no positives on validation); such a row carries no information: uniform.
        empty = ~torch.isfinite(probs).all(dim=1)
        probs[empty] = 1.0 / probs.shape[1]
        return probs.float().to(logits.device)


@CALIBRATORS.register_module()
class HistogramBinning(_NetcalCalibrator):
    """Histogram binning (Zadrozny & Elkan 2001), one-vs-all per class then normalised, via netcal."""

    def __init__(self, bins: int = 15) -> None:
        self.bins = bins

    def build(self):  # noqa: ANN201
        from netcal.binning import HistogramBinning as NetcalHistogramBinning

        return NetcalHistogramBinning(bins=self.bins)


@CALIBRATORS.register_module()
class BBQ(_NetcalCalibrator):
    """Bayesian Binning into Quantiles (Naeini et al. 2015), one-vs-all per class then normalised, via netcal."""

    def __init__(self, score_function: str = "BIC") -> None:
        self.score_function = score_function

    def build(self):  # noqa: ANN201
        from netcal.binning import BBQ as NetcalBBQ

        return NetcalBBQ(score_function=self.score_function)


@CALIBRATORS.register_module()
class EnsembleTemperatureScaling(Calibrator):
    """ETS (Zhang et al. 2020, Mix-n-Match): w0 * softmax(z / T) + w1 * softmax(z) + w2 / C, weights on the simplex.

    As in the authors' code: T minimises the MSE of softmax(z / T) against one-hot labels (L-BFGS-B on
    [0.05, 5]), then the weights minimise ``loss`` ("mse" or "ce") by SLSQP from (1, 0, 0).
    """

    output = "probs"

    def __init__(self, loss: str = "mse") -> None:
        if loss not in ("mse", "ce"):
            raise ValueError(f"loss must be 'mse' or 'ce', got {loss!r}")
        self.loss = loss
        self.temperature: float | None = None
        self.weights: np.ndarray | None = None

    @staticmethod
    def _softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _components(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        assert self.temperature is not None
        p_scaled, p_raw = self._softmax(z / self.temperature), self._softmax(z)
        return p_scaled, p_raw, np.full_like(p_raw, 1.0 / z.shape[1])

    def fit(self, logits: torch.Tensor, labels: torch.Tensor, seeds: torch.Tensor | None = None
            ) -> EnsembleTemperatureScaling:
        z = logits.double().cpu().numpy()
        onehot = np.eye(z.shape[1])[labels.long().cpu().numpy()]

        def mse_of_temperature(t: np.ndarray) -> float:
            return float(np.mean((self._softmax(z / t[0]) - onehot) ** 2))

        self.temperature = float(optimize.minimize(mse_of_temperature, np.array([1.0]), method="L-BFGS-B",
                                                   bounds=[(0.05, 5.0)], tol=1e-12).x[0])
        parts = self._components(z)

        def loss_of_weights(w: np.ndarray) -> float:
            p = w[0] * parts[0] + w[1] * parts[1] + w[2] * parts[2]
            if self.loss == "mse":
                return float(np.mean((p / p.sum(axis=1, keepdims=True) - onehot) ** 2))
            return float(-np.sum(onehot * np.log(np.clip(p, 1e-300, None))) / len(p))

        result = optimize.minimize(loss_of_weights, np.array([1.0, 0.0, 0.0]), method="SLSQP",
                                   bounds=[(0.0, 1.0)] * 3, constraints={"type": "eq", "fun": lambda w: w.sum() - 1},
                                   tol=1e-12)
        self.weights = result.x
        return self

    def calibrate(self, logits: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        if self.weights is None:
            raise RuntimeError("EnsembleTemperatureScaling is not fitted")
        parts = self._components(logits.double().cpu().numpy())
        p = sum(w * part for w, part in zip(self.weights, parts, strict=True))
        return torch.from_numpy(p).float().to(logits.device)

    def fitted_values(self) -> dict[str, float]:
        if self.weights is None or self.temperature is None:
            return {}
        return {"temperature": self.temperature, **{f"ets_w{i}": float(w) for i, w in enumerate(self.weights)}}
