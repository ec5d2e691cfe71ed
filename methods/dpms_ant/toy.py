"""DPMs-ANT's 2-D Gaussian toy (paper Fig. 2): a small MLP DDPM trained on N([1, 1], I), transferred to
N([-1, -1], I) from 10 samples by plain DDPM fine-tuning, ANT without adversarial noise and ANT.

What is measured: the angle between each method's first-iteration gradient of the output layer and a reference
gradient (the plain noise-prediction loss on 10,000 target samples, at the source model) over ``angle_repeats``
draws of (eps, t) shared by the three methods (paired differences to DDPM with their standard errors), and
20,000 samples per method after transfer (a histogram PNG and their mean / std). The official code has no toy;
this follows its training step (``train.py``, ``utils/denoising.py`` of ShinyGua/DPMs-ANT 65f00ba) in 2-D:

- x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t drawn in antithetic pairs (t, T-1-t), linear betas 1e-4..0.02,
  T = 1000; loss = per-sample sum of squared error, mean over the batch; the whole 10-sample target set is the
  batch of every step.
- Similarity-guided target (Eq. 5): eps - gamma (1 - abar_t) grad_{x_t} log p(y = target | x_t), gamma = 5, the
  classifier gradient detached; target label 0, source label 1, as the code.
- Adversarial noise (Eq. 7): J = 10 ascent steps eps <- eps + omega grad_eps L_plain, omega = 0.02, each followed
  by renormalisation and by rebuilding x_t -- with t resampled, as the code's ``generate_xt`` does
  (``resample_t=False`` is the paper's fixed-t reading). The code differentiates through x_t only in the first
  inner step (later x_t are detached leaves, so grad_eps is the direct 2 (eps - eps_theta) term):
  ``adv_grad="code"`` reproduces that, ``"full"`` differentiates through x_t in every step.
- Renormalisation: the code standardises each sample over its C*H*W values. A 2-D sample has two values, and
  per-sample standardisation maps every eps to +-(1, -1)/sqrt(2) (unbiased std), so by default the toy
  standardises each coordinate over the batch (``renorm="batch"``); ``"sample"`` is the code's literal rule.

Choices the paper leaves open (stated in the run's JSON): covariance I for both Gaussians (the paper gives only the
means; with I the domains overlap at 2.83 sigma, so the classifier's task is not trivial); all MLP weights train
(the toy isolates the loss, not the adaptor); the classifier is a time-conditioned MLP trained from scratch on
fresh source draws vs the 10 target points (the image pipeline fine-tunes ADM's noisy classifier instead).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.methods.diffusion.gaussian import RespacedDiffusion
from bench.methods.dpms_ant import objectives
from bench.methods.dpms_ant.objectives import eps_loss, q_sample, similarity_target

METHODS = ("ddpm", "ant_no_an", "ant")
SOURCE_MEAN, TARGET_MEAN = (1.0, 1.0), (-1.0, -1.0)
TARGET_LABEL, SOURCE_LABEL = objectives.TARGET_LABEL, 1  # the official labels (train_discriminator.py, train.py)
ADV_GRADS = {"code": "official", "full": "full"}  # the toy's names for objectives.ASCENT_GRADS
# Measured 2026-12-06 on the loaded 2-core dev machine (one core, torch threads 1), QUICK, seeds 0 / 1 / 2, 64 draws
# shared by the methods: mean angle to the reference DDPM 28.4 / 24.3 / 23.8 deg, ANT w/o AN 28.1 / 24.0 / 29.4,
# ANT 26.4 / 22.7 / 20.9; paired ANT - DDPM -2.0 +- 1.9 / -1.6 +- 1.7 / -2.9 +- 1.7 (ANT smaller in about half of the
# draws), and the same at omega = 0 (renormalised noise and resampled t, not the ascent, make the difference); the
# angle of the *mean* gradient is smallest for DDPM (17.5 / 4.5 / 6.6 vs ANT 18.9 / 14.6 / 12.3). 15-17 s wall.
QUICK: dict[str, Any] = {"source_steps": 1500, "source_batch": 256, "classifier_steps": 400, "transfer_steps": 300,
                         "angle_repeats": 64, "reference_samples": 10_000, "num_samples": 20_000,
                         "sample_steps": 100}
FULL: dict[str, Any] = {**QUICK, "source_steps": 6000, "classifier_steps": 1500, "angle_repeats": 512,
                        "sample_steps": 500}


class TimeMLP(nn.Module):
    """MLP on (2-D point, sinusoidal embedding of t / T); ``out`` is the output layer the angles are read from."""

    def __init__(self, out_features: int = 2, hidden: int = 64, embed: int = 16, num_timesteps: int = 1000) -> None:
        super().__init__()
        self.num_timesteps, self.embed = num_timesteps, embed
        self.body = nn.Sequential(nn.Linear(2 + embed, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.out = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        half = self.embed // 2
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=x.dtype, device=x.device) / half)
        angle = (t.to(x.dtype) / self.num_timesteps)[:, None] * 1000.0 * freqs[None]
        return self.out(self.body(torch.cat([x, angle.sin(), angle.cos()], dim=1)))


def gaussian_points(mean: tuple[float, float], n: int, generator: torch.Generator, std: float = 1.0) -> torch.Tensor:
    """``n`` draws of N(mean, std^2 I) in 2-D."""
    return torch.tensor(mean) + std * torch.randn(n, 2, generator=generator)


def antithetic_timesteps(batch: int, num_timesteps: int, generator: torch.Generator) -> torch.Tensor:
    """t in antithetic pairs (t, T-1-t) from the toy's generator (:func:`objectives.antithetic_timesteps`)."""
    return objectives.antithetic_timesteps(batch, num_timesteps, "cpu", generator)


def adversarial_noise(model: nn.Module, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor,
                      alphas_cumprod: torch.Tensor, generator: torch.Generator, steps: int = 10, omega: float = 0.02,
                      resample_t: bool = True, renorm: str = "batch",
                      adv_grad: str = "code") -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 7's inner maximisation (:func:`objectives.adversarial_noise`) with the toy's defaults: per-coordinate
    ``renorm="batch"`` (module docstring) and t resampled from ``generator``; ``adv_grad="code"`` is the official
    gradient path (``ascent_grad="official"``), ``"full"`` differentiates through x_t in every step. Returns
    (eps, t)."""
    if adv_grad not in ADV_GRADS:
        raise ValueError(f"adv_grad must be one of {sorted(ADV_GRADS)}, got {adv_grad!r}")
    eps, _, t = objectives.adversarial_noise(model, x0, eps, t, alphas_cumprod, omega, steps, resample_t=resample_t,
                                             ascent_grad=ADV_GRADS[adv_grad], renorm=renorm, generator=generator)
    return eps, t


def method_loss(method: str, model: nn.Module, x0: torch.Tensor, alphas_cumprod: torch.Tensor,
                generator: torch.Generator, classifier: nn.Module | None = None, gamma: float = 5.0,
                **adversarial: Any) -> torch.Tensor:
    """One training step's loss for ``method`` on the batch ``x0``: plain DDPM loss (``"ddpm"``), the
    similarity-guided loss (``"ant_no_an"``) or the guided loss at adversarial noise (``"ant"``)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    eps = torch.randn(x0.shape, generator=generator)
    t = antithetic_timesteps(len(x0), len(alphas_cumprod), generator)
    if method == "ant":
        eps, t = adversarial_noise(model, x0, eps, t, alphas_cumprod, generator, **adversarial)
    x_t = q_sample(x0, t, eps, alphas_cumprod)
    if method == "ddpm":
        return eps_loss(model(x_t, t), eps)
    if classifier is None:
        raise ValueError(f"method {method!r} needs the domain classifier")
    return eps_loss(model(x_t, t), similarity_target(eps, x_t, t, classifier, alphas_cumprod, gamma))


def train_source(alphas_cumprod: torch.Tensor, generator: torch.Generator, steps: int, batch: int,
                 lr: float = 2e-3, data_std: float = 1.0) -> TimeMLP:
    """The source DDPM: the plain loss on fresh draws of N(SOURCE_MEAN, data_std^2 I), Adam."""
    model = TimeMLP(num_timesteps=len(alphas_cumprod))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = method_loss("ddpm", model, gaussian_points(SOURCE_MEAN, batch, generator, data_std), alphas_cumprod,
                           generator)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model


def train_classifier(target: torch.Tensor, alphas_cumprod: torch.Tensor, generator: torch.Generator, steps: int,
                     batch: int = 64, lr: float = 1e-3, data_std: float = 1.0) -> TimeMLP:
    """Stage 1 in 2-D: a noisy 2-class classifier, fresh source draws (label 1) vs the target points (label 0,
    cycled to ``batch``), antithetic t, cross-entropy, AdamW (0.9, 0.999) weight decay 1e-4 as ``base_cls.yaml``
    (lr and steps raised: this one starts from scratch, not from ADM's ImageNet classifier)."""
    classifier = TimeMLP(out_features=2, num_timesteps=len(alphas_cumprod))
    optimiser = torch.optim.AdamW(classifier.parameters(), lr=lr, betas=(0.9, 0.999), weight_decay=1e-4)
    labels = torch.cat([torch.full((batch,), SOURCE_LABEL), torch.full((batch,), TARGET_LABEL)])
    for _ in range(steps):
        x0 = torch.cat([gaussian_points(SOURCE_MEAN, batch, generator, data_std), target.repeat(
            math.ceil(batch / len(target)), 1)[:batch]])
        t = antithetic_timesteps(len(x0), len(alphas_cumprod), generator)
        x_t = q_sample(x0, t, torch.randn(x0.shape, generator=generator), alphas_cumprod)
        loss = nn.functional.cross_entropy(classifier(x_t, t), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return classifier.requires_grad_(False)


def output_gradient(model: TimeMLP, loss: torch.Tensor) -> torch.Tensor:
    """The flattened gradient of ``loss`` w.r.t. the output layer (weight, then bias)."""
    weight, bias = torch.autograd.grad(loss, [model.out.weight, model.out.bias])
    return torch.cat([weight.flatten(), bias.flatten()])


def angle_degrees(a: torch.Tensor, b: torch.Tensor) -> float:
    """The angle between two vectors in degrees."""
    cosine = torch.dot(a.double(), b.double()) / (a.double().norm() * b.double().norm())
    return math.degrees(math.acos(float(cosine.clamp(-1.0, 1.0))))


def sample(model: nn.Module, diffusion: RespacedDiffusion, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` points by the code's generalised step at eta = 1 over the respaced steps (= ancestral sampling with the
    respaced posterior variance); no x0 clipping (points are not images)."""
    x = torch.randn(n, 2, generator=generator)
    with torch.no_grad():
        for index in reversed(range(diffusion.num_timesteps)):
            out = diffusion.p_mean_variance(model(x, diffusion.model_timesteps(index, n, x.device)), x, index,
                                            clip_denoised=False)
            x = out.mean + (out.variance.sqrt() * torch.randn(x.shape, generator=generator) if index > 0 else 0)
    return x


def histogram_png(samples: dict[str, torch.Tensor], target: torch.Tensor, path: Path) -> Path:
    """One 2-D histogram panel per model, the 10 target points and both domain means marked."""
    from bench.figures import _keep_matplotlib_out_of_home

    _keep_matplotlib_out_of_home()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(samples), figsize=(3.2 * len(samples), 3.2), sharex=True, sharey=True)
    for ax, (name, points) in zip(axes, samples.items(), strict=True):
        ax.hist2d(points[:, 0].numpy(), points[:, 1].numpy(), bins=80, range=[[-5, 5], [-5, 5]], cmap="Blues")
        ax.scatter(target[:, 0], target[:, 1], s=12, c="red", label="10 target samples")
        ax.scatter(*zip(SOURCE_MEAN, TARGET_MEAN, strict=True), marker="x", c="black", s=40)
        mean = points.mean(0)
        ax.set_title(f"{name}\nmean ({mean[0]:.2f}, {mean[1]:.2f})", fontsize=9)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def run_toy(out_dir: str | Path, full: bool = False, seed: int = 0, gamma: float = 5.0, steps: int = 10,
            omega: float = 0.02, resample_t: bool = True, renorm: str = "batch", adv_grad: str = "code",
            lr: float = 1e-3, data_std: float = 1.0, log: Callable[[str], None] = print,
            **sizes: int) -> dict[str, Any]:
    """The whole toy: source model, classifier, gradient angles and transfer for each method, ``toy.json`` and
    ``toy_hist.png`` in ``out_dir``. ``sizes`` override the QUICK (or FULL) budget's entries."""
    budget = {**(FULL if full else QUICK)}
    unknown = set(sizes) - set(budget)
    if unknown:
        raise ValueError(f"run_toy: unknown size keys {sorted(unknown)}; expected some of {sorted(budget)}")
    budget.update(sizes)
    start = time.perf_counter()
    out_dir = Path(out_dir)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the MLPs' initial weights
    train_process = RespacedDiffusion.from_schedule("linear", 1000, 1000, "fixed_small")
    alphas_cumprod = torch.tensor(train_process.alphas_cumprod, dtype=torch.float32)
    adversarial = {"steps": steps, "omega": omega, "resample_t": resample_t, "renorm": renorm, "adv_grad": adv_grad}

    source = train_source(alphas_cumprod, generator, budget["source_steps"], budget["source_batch"],
                          data_std=data_std)
    target = gaussian_points(TARGET_MEAN, 10, generator, data_std)
    classifier = train_classifier(target, alphas_cumprod, generator, budget["classifier_steps"], data_std=data_std)
    reference_points = gaussian_points(TARGET_MEAN, budget["reference_samples"], generator, data_std)
    reference = output_gradient(source, method_loss("ddpm", source, reference_points, alphas_cumprod, generator))

    # common random numbers: draw r gives every method the same eps and t (ANT starts from them), so the methods'
    # angles are compared pair by pair rather than through independent noise
    draw_seeds = torch.randint(0, 2**62, (budget["angle_repeats"],), generator=generator).tolist()
    angles: dict[str, dict[str, float]] = {}
    per_draw: dict[str, torch.Tensor] = {}
    for method in METHODS:
        grads = torch.stack([output_gradient(source, method_loss(
            method, source, target, alphas_cumprod, torch.Generator().manual_seed(draw_seed), classifier, gamma,
            **adversarial)) for draw_seed in draw_seeds])
        per_draw[method] = torch.tensor([angle_degrees(g, reference) for g in grads], dtype=torch.float64)
        angles[method] = {"mean_deg": float(per_draw[method].mean()), "std_deg": float(per_draw[method].std()),
                          "of_mean_gradient_deg": angle_degrees(grads.mean(0), reference)}
        log(f"[dpms-toy] {method}: angle to reference {angles[method]['mean_deg']:.1f} ± "
            f"{angles[method]['std_deg']:.1f} deg (of the mean gradient {angles[method]['of_mean_gradient_deg']:.1f})")
    paired = {}
    for method in METHODS[1:]:
        difference = per_draw[method] - per_draw["ddpm"]
        paired[f"{method}_minus_ddpm"] = {
            "mean_deg": float(difference.mean()), "stderr_deg": float(difference.std() / math.sqrt(len(difference))),
            "fraction_of_draws_smaller": float((difference < 0).double().mean())}

    sampler = RespacedDiffusion.from_schedule("linear", 1000, budget["sample_steps"], "fixed_small")
    samples = {"source": sample(source, sampler, budget["num_samples"], generator)}
    for method in METHODS:
        model = TimeMLP(num_timesteps=len(alphas_cumprod))
        model.load_state_dict(source.state_dict())
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(budget["transfer_steps"]):
            loss = method_loss(method, model, target, alphas_cumprod, generator, classifier, gamma, **adversarial)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        samples[method] = sample(model, sampler, budget["num_samples"], generator)
    stats = {name: {"mean": [round(float(v), 4) for v in points.mean(0)],
                    "std": [round(float(v), 4) for v in points.std(0)],
                    "distance_to_target_mean": float((points.mean(0) - torch.tensor(TARGET_MEAN)).norm())}
             for name, points in samples.items()}
    ordered = sorted(METHODS, key=lambda m: angles[m]["mean_deg"])
    result = {"angles": angles, "paired_with_ddpm": paired, "closest_to_reference": ordered[0],
              "paper_ordering_holds": ordered[0] == "ant",
              "samples": stats, "target_points": target.tolist(),
              "settings": {**budget, "seed": seed, "gamma": gamma, **adversarial, "transfer_lr": lr,
                           "transfer_optimiser": "Adam", "trained": "all MLP weights", "data_std": data_std,
                           "covariance": f"{data_std ** 2} I (source and target)", "num_timesteps": 1000,
                           "betas": "linear 1e-4..0.02", "sampler": f"eta=1, {budget['sample_steps']} respaced steps",
                           "angle_layer": "output Linear (weight, bias)",
                           "reference": f"plain loss on {budget['reference_samples']} target samples, source model",
                           "torch_threads": torch.get_num_threads()}}
    histogram_png(samples, target, out_dir / "toy_hist.png")
    result["seconds"] = round(time.perf_counter() - start, 2)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "toy.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.methods.dpms_ant.toy --out DIR [--full] [--seed N]``: the paper's Fig. 2 check on CPU."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.methods.dpms_ant.toy", description=main.__doc__)
    parser.add_argument("--out", required=True, help="folder for toy.json and toy_hist.png")
    parser.add_argument("--full", action="store_true", help="the longer FULL budget instead of QUICK")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run_toy(args.out, full=args.full, seed=args.seed)
    print(f"[dpms-toy] closest to the reference gradient: {result['closest_to_reference']} "
          f"({Path(args.out) / 'toy.json'}, {Path(args.out) / 'toy_hist.png'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
