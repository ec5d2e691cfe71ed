"""IDC's Brownian-bridge process (BBDM, as used by ``hfmei/IDC``'s ``BrownianBridgeModel``) around any denoiser.

Notation follows BBDM: ``x0`` is the target (the true class's label image), ``y`` the source (the input image), both
in [-1, 1]; the bridge runs from ``y`` at ``t = T-1`` to ``x0`` at ``t = 0``. The buffers and the ``denoise_fn.``
prefix give the official state-dict keys, so the released checkpoints load with ``strict=True``. Arithmetic keeps
the official float32 operation order, which makes sampling and losses match the official code to float rounding.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

NoiseFn = Callable[[torch.Tensor], torch.Tensor]

_SCHEDULE_BUFFERS = ("m_t", "m_tminus", "variance_t", "variance_tminus", "variance_t_tminus", "posterior_variance_t")


def _gather(buffer: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """``buffer[t]`` shaped ``[N, 1, ..., 1]`` to broadcast against an ``ndim``-dimensional batch."""
    return buffer.gather(-1, t).reshape(t.shape[0], *([1] * (ndim - 1)))


def weights_init(module: nn.Module) -> None:
    """The official ``runners.utils.weights_init``, for ``model.apply(weights_init)`` before training.

    Matches by class name: ``*Conv2d*`` and ``*Linear*`` weights ~ N(0, 0.02), ``*BatchNorm*`` weights ~ N(1, 0.02)
    and biases 0; biases of convs/linears keep PyTorch's default init. This overwrites the U-Net's zero-initialised
    2-D output convs (ResBlock ``out_layers`` and the final ``out`` conv), as the official training does, while the
    attention ``proj_out`` (a ``Conv1d``) stays zero.
    """
    name = type(module).__name__
    with torch.no_grad():
        if "Conv2d" in name or "Linear" in name:
            module.weight.normal_(0.0, 0.02)
        elif "BatchNorm" in name:
            module.weight.normal_(1.0, 0.02)
            module.bias.zero_()


def per_sample_noise(generators: Sequence[torch.Generator]) -> NoiseFn:
    """A ``noise`` function for :meth:`BrownianBridge.reverse` whose row ``i`` comes from ``generators[i]``, so a
    sample's output does not depend on which batch it is in (the default global-RNG noise does)."""
    generators = list(generators)

    def noise(like: torch.Tensor) -> torch.Tensor:
        if like.shape[0] != len(generators):
            raise ValueError(f"batch of {like.shape[0]} but {len(generators)} generators")
        rows = [torch.randn(like.shape[1:], generator=g, device=g.device, dtype=like.dtype) for g in generators]
        return torch.stack(rows).to(like.device)

    return noise


class BrownianBridge(nn.Module):
    """BBDM's Brownian bridge between ``x0`` (target) and ``y`` (source) around ``denoise_fn(x, timesteps)``.

    Schedule (float64, stored float32): ``m_t`` = linspace(0.001, 0.999, T) ("linear") or the BBDM "sin" curve,
    ``var_t = 2 (m_t - m_t^2) max_var``; forward sample ``x_t = (1-m_t) x0 + m_t y + sqrt(var_t) eps``. The network
    predicts ``objective`` ("grad": ``m_t (y - x0) + sqrt(var_t) eps``; "noise": ``eps``; "ysubx": ``y - x0``).
    """

    def __init__(self, denoise_fn: nn.Module, num_timesteps: int = 4, mt_type: str = "linear", max_var: float = 1.0,
                 eta: float = 1.0, objective: str = "grad", skip_sample: bool = True, sample_type: str = "linear",
                 sample_step: int = 4, loss_type: str = "l1", inter_class_weight: float = 0.2,
                 inter_class_loss: bool = True) -> None:
        super().__init__()
        if mt_type not in ("linear", "sin"):
            raise ValueError(f"mt_type must be 'linear' or 'sin', got {mt_type!r}")
        if objective not in ("grad", "noise", "ysubx"):
            raise ValueError(f"objective must be 'grad', 'noise' or 'ysubx', got {objective!r}")
        if loss_type not in ("l1", "l2"):
            raise ValueError(f"loss_type must be 'l1' or 'l2', got {loss_type!r}")
        if num_timesteps < 2:
            raise ValueError(f"num_timesteps must be at least 2, got {num_timesteps}")
        self.num_timesteps = num_timesteps
        self.mt_type = mt_type
        self.max_var = max_var
        self.eta = eta
        self.objective = objective
        self.skip_sample = skip_sample
        self.sample_type = sample_type
        self.sample_step = sample_step
        self.loss_type = loss_type
        self.inter_class_weight = inter_class_weight
        self.inter_class_loss = inter_class_loss
        for name, values in self._schedule().items():
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32))
        self.steps = self._sample_steps()
        self.denoise_fn = denoise_fn

    # ------------------------------------------------------------------------------------------ schedule

    def _schedule(self) -> dict[str, np.ndarray]:
        """The six schedule arrays in float64 (BBDM ``register_schedule``)."""
        T = self.num_timesteps
        if self.mt_type == "linear":
            m_t = np.linspace(0.001, 0.999, T)
        else:  # "sin": a slowly growing geometric curve rescaled to end at 0.999
            m_t = 1.0075 ** np.linspace(0, T, T)
            m_t = m_t / m_t[-1]
            m_t[-1] = 0.999
        m_prev = np.concatenate([[0.0], m_t[:-1]])
        var_t = 2.0 * (m_t - m_t**2) * self.max_var
        var_prev = np.concatenate([[0.0], var_t[:-1]])
        var_t_prev = var_t - var_prev * ((1.0 - m_t) / (1.0 - m_prev)) ** 2
        posterior = var_t_prev * var_prev / var_t
        return {"m_t": m_t, "m_tminus": m_prev, "variance_t": var_t, "variance_tminus": var_prev,
                "variance_t_tminus": var_t_prev, "posterior_variance_t": posterior}

    def _sample_steps(self) -> list[int]:
        """The timesteps the reverse process visits, computed like the official code.

        With ``skip_sample`` and ``sample_type="linear"`` it is ``arange(T-1, 1, -(T-1)/(sample_step-2))``
        truncated to integers, then ``[1, 0]``: for T=4, sample_step=4 that is ``[3, 1, 1, 0]``. Step 1 appears
        twice. In exact arithmetic the update 1 → 1 is the identity with zero posterior noise scale (the denoiser's
        output cancels); in the official float32 order its variance is one rounding error (about 3e-8 for T=4,
        i.e. a noise scale of about 1.7e-4). It still calls the denoiser and draws a noise tensor, so it is kept
        as is for RNG and numerical parity.
        """
        T = self.num_timesteps
        if not self.skip_sample:
            return list(range(T - 1, -1, -1))
        if self.sample_type != "linear":
            raise ValueError(f"only sample_type='linear' is implemented, got {self.sample_type!r}")
        if self.sample_step < 3:
            raise ValueError(f"sample_step must be at least 3 with skip_sample (the official stride "
                             f"(T-1)/(sample_step-2) is undefined or ascending otherwise), got {self.sample_step}")
        stride = -((T - 1) / (self.sample_step - 2))
        return torch.arange(T - 1, 1, step=stride).long().tolist() + [1, 0]

    # ------------------------------------------------------------------------------------- ranges

    @staticmethod
    def to_model_range(images01: torch.Tensor) -> torch.Tensor:
        """[0, 1] images → [-1, 1] (``(x - 0.5) * 2``, clamped), the official ``to_normal`` mapping."""
        return ((images01 - 0.5) * 2.0).clamp(-1.0, 1.0)

    @staticmethod
    def to_image_range(x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] → [0, 1] (``x * 0.5 + 0.5``, clamped), as the official attack wrapper maps sampler outputs."""
        return (x * 0.5 + 0.5).clamp(0.0, 1.0)

    # ------------------------------------------------------------------------------------- forward process

    def _coefficients(self, t: torch.Tensor, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``m_t`` and ``sigma_t = sqrt(var_t)`` at ``t``, broadcastable to an ``ndim``-dimensional batch."""
        return _gather(self.m_t, t, ndim), _gather(self.variance_t, t, ndim).sqrt()

    def q_sample(self, x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor,
                 noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_t, objective)``: the bridge sample at ``t`` and the network's regression target."""
        m_t, sigma_t = self._coefficients(t, x0.ndim)
        x_t = (1.0 - m_t) * x0 + m_t * y + sigma_t * noise
        if self.objective == "grad":
            target = m_t * (y - x0) + sigma_t * noise
        elif self.objective == "noise":
            target = noise
        else:
            target = y - x0
        return x_t, target

    def predict_x0(self, x_t: torch.Tensor, y: torch.Tensor, t: torch.Tensor,
                   objective_pred: torch.Tensor) -> torch.Tensor:
        """The target ``x0`` implied by a predicted objective at ``(x_t, t)``."""
        if self.objective == "grad":
            return x_t - objective_pred
        if self.objective == "noise":
            m_t, sigma_t = self._coefficients(t, x_t.ndim)
            return (x_t - m_t * y - sigma_t * objective_pred) / (1.0 - m_t)
        return y - objective_pred

    def label_objective(self, x0: torch.Tensor, label_image: torch.Tensor, y: torch.Tensor, t: torch.Tensor,
                        noise: torch.Tensor) -> torch.Tensor:
        """The objective that would hold were ``label_image`` the target (official ``q_singlestep``):
        ``m_{t-1} (label - x0) + m_t (y - label) + sigma_t eps``, with ``m_{t-1} = 0`` at ``t = 0``.

        Independent of ``self.objective`` (the official uses this "grad"-style form for every objective).
        """
        m_t, sigma_t = self._coefficients(t, x0.ndim)
        m_prev = _gather(self.m_tminus, t, x0.ndim)  # m_tminus[t] = m_t[t-1], 0 at t = 0
        return m_prev * (label_image - x0) + m_t * (y - label_image) + sigma_t * noise

    # ------------------------------------------------------------------------------------- training loss

    def losses(self, x0: torch.Tensor, y: torch.Tensor, labels: torch.Tensor, label_images: torch.Tensor,
               t: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """IDC's training loss (official ``p_losses``): ``loss = intra + inter`` (``inter`` added only with
        ``inter_class_loss``), also returned separately.

        ``x0`` ([N, C, H, W], the true classes' label images) and ``y`` (the input images) are in [-1, 1];
        ``label_images`` ([K, C, H, W]) in [0, 1] are mapped to [-1, 1] here. ``intra`` is the L1 (or MSE) between
        predicted and true objective. ``inter``: with ``d_j`` the mean |prediction - label_objective(j)|, each
        sample whose true-objective distance is not exactly ``min_j d_j`` (the official float equality test)
        contributes ``min_{j != label} d_j``; ``inter = -inter_class_weight * mean over the batch``. ``t`` and
        ``noise`` default to global-RNG draws in the official order (t, then noise).
        """
        batch = x0.shape[0]
        if t is None:
            t = torch.randint(0, self.num_timesteps, (batch,), device=x0.device).long()
        if noise is None:
            noise = torch.randn_like(x0)
        x_t, target = self.q_sample(x0, y, t, noise)
        prediction = self.denoise_fn(x_t, t)

        protos = self.to_model_range(label_images.to(device=x0.device, dtype=x0.dtype))
        # [N, K, C, H, W]: per sample and label, the objective were that label the target.
        expand = (slice(None), None)
        label_targets = self.label_objective(x0[expand], protos[None], y[expand], t, noise[expand])
        distances = (label_targets - prediction[expand]).abs().mean(dim=(2, 3, 4))
        true_distance = (target - prediction).abs().mean(dim=(1, 2, 3))
        is_true = torch.nn.functional.one_hot(labels.to(x0.device), num_classes=protos.shape[0]).bool()
        nearest_wrong = distances.masked_fill(is_true, float("inf")).min(dim=1).values
        true_is_nearest = true_distance == distances.min(dim=1).values
        penalty = torch.where(true_is_nearest, torch.zeros_like(nearest_wrong), nearest_wrong)
        inter = -self.inter_class_weight * penalty.mean()

        if self.loss_type == "l1":
            intra = (target - prediction).abs().mean()
        else:  # the official l2 branch computes only this term and then fails (its loss is never assigned)
            intra = torch.nn.functional.mse_loss(target, prediction)
        loss = intra + inter if self.inter_class_loss else intra
        return {"loss": loss, "intra": intra, "inter": inter}

    # ------------------------------------------------------------------------------------- reverse process

    def _step(self, x_t: torch.Tensor, y: torch.Tensor, index: int, clip_denoised: bool,
              noise: NoiseFn) -> torch.Tensor:
        """One reverse update from ``steps[index]`` to ``steps[index + 1]`` (the x0 prediction at the last step)."""
        batch, ndim = x_t.shape[0], x_t.ndim
        t = torch.full((batch,), self.steps[index], device=x_t.device, dtype=torch.long)
        x0_pred = self.predict_x0(x_t, y, t, self.denoise_fn(x_t, t))
        if clip_denoised:
            x0_pred = x0_pred.clamp(-1.0, 1.0)
        if index == len(self.steps) - 1:
            return x0_pred
        t_next = torch.full((batch,), self.steps[index + 1], device=x_t.device, dtype=torch.long)
        m_t, m_next = _gather(self.m_t, t, ndim), _gather(self.m_t, t_next, ndim)
        var_t, var_next = _gather(self.variance_t, t, ndim), _gather(self.variance_t, t_next, ndim)
        # Official float32 operation order kept (left to right: (var_next * a) / b); it decides the rounding, e.g.
        # the duplicated step's sigma2 is 3e-8 rather than 0.
        sigma2 = (var_t - var_next * (1.0 - m_t) ** 2 / (1.0 - m_next) ** 2) * var_next / var_t
        sigma = sigma2.sqrt() * self.eta
        eps = noise(x_t)
        mean = ((1.0 - m_next) * x0_pred + m_next * y
                + ((var_next - sigma2) / var_t).sqrt() * (x_t - (1.0 - m_t) * x0_pred - m_t * y))
        return mean + sigma * eps

    def reverse(self, y: torch.Tensor, clip_denoised: bool = True, noise: NoiseFn | None = None) -> torch.Tensor:
        """Sample the target from the source ``y`` (in [-1, 1]) over :attr:`steps` (official ``p_sample_loop``).

        Every non-final step adds ``eta``-scaled posterior noise ``noise(x_t)`` (default ``torch.randn_like``: the
        global RNG, which the official attack wrapper freezes with ``torch.manual_seed(0)`` before each call).
        Differentiable w.r.t. ``y`` (no in-place ops) and usable under ``torch.inference_mode``.
        """
        noise = torch.randn_like if noise is None else noise
        x = y
        for index in range(len(self.steps)):
            x = self._step(x, y, index, clip_denoised, noise)
        return x

    def translate(self, images01: torch.Tensor, clip_denoised: bool = True,
                  noise: NoiseFn | None = None) -> torch.Tensor:
        """Translate [0, 1] images into [0, 1] label-image estimates (to_model_range → reverse → to_image_range)."""
        return self.to_image_range(self.reverse(self.to_model_range(images01), clip_denoised, noise))
