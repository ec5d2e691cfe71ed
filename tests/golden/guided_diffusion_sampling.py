"""Produce the golden sums of tests/test_diffusion_gaussian.py::test_ancestral_sampling_equals_guided_diffusion with
the OFFICIAL guided-diffusion ``SpacedDiffusion.p_sample_loop``.

Not part of the suite (it needs the official code): clone openai/guided-diffusion at 22e0df8 and run
``python tests/golden/guided_diffusion_sampling.py --official PATH``; it prints the parametrize rows.

Same toy model, toy classifier, respacing (25 of 1000 steps) and noise as the test: the initial noise and each
step's ``th.randn_like`` draw come from one generator per sample (the test's ``step_noise``), patched into the
official module; classifier guidance is the official ``classifier_sample.py`` ``cond_fn`` with scale 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

TESTS = Path(__file__).resolve().parents[1]
CASES = [("learned_range", "cosine", False), ("learned_range", "cosine", True), ("learned_range", "linear", True),
         ("fixed_small", "linear", False), ("fixed_small", "cosine", True), ("fixed_large", "linear", True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="a guided-diffusion checkout at 22e0df8")
    args = parser.parse_args()
    sys.path[:0] = [str(args.official), str(TESTS)]
    from guided_diffusion import gaussian_diffusion as gd
    from guided_diffusion.respace import SpacedDiffusion, space_timesteps
    from test_diffusion_gaussian import toy_classifier, toy_model

    from bench.seeding import step_noise

    n, batch, shape = 25, 3, (3, 2, 4, 4)
    labels = torch.tensor([0, 3, 4])
    for variance, schedule, guided in CASES:
        generators = [torch.Generator().manual_seed(100 + i) for i in range(batch)]
        gd.th.randn_like = lambda x, g=generators: step_noise(g, x)  # the only draw in the official p_sample
        diffusion = SpacedDiffusion(
            use_timesteps=space_timesteps(1000, str(n)), betas=gd.get_named_beta_schedule(schedule, 1000),
            model_mean_type=gd.ModelMeanType.EPSILON, model_var_type=getattr(gd.ModelVarType, variance.upper()),
            loss_type=gd.LossType.MSE, rescale_timesteps=False)
        model = toy_model if variance == "learned_range" else (lambda x, t, y=None: toy_model(x, t)[:, :2])

        def cond_fn(x, t, y=None):  # noqa: ANN001, ANN202 - classifier_sample.py's, scale 2
            with torch.enable_grad():
                x_in = x.detach().requires_grad_(True)
                log_probs = F.log_softmax(toy_classifier(x_in, t), dim=-1)
                selected = log_probs[range(len(log_probs)), y.view(-1)]
                return torch.autograd.grad(selected.sum(), x_in)[0] * 2.0

        noise = step_noise(generators, torch.empty(shape))
        sample = diffusion.p_sample_loop(model, shape, noise=noise, clip_denoised=True, model_kwargs={"y": labels},
                                         cond_fn=cond_fn if guided else None, device=torch.device("cpu"),
                                         progress=False)
        print(f"({variance!r}, {schedule!r}, {guided}, {float(sample.double().sum())!r}, "
              f"{float(sample.double().abs().sum())!r}),")


if __name__ == "__main__":
    main()
