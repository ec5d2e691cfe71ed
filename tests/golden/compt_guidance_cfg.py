"""Produce the CFG golden sums of tests/test_compress_guidance_guidance.py with the OFFICIAL ComptQuad sampler.

The test is ``test_cfg_x0_combination_equals_the_authors_sampler``; the sampler is compress guidance's
``GaussianDiffusionClassFree2_ComptQuad.p_sample_loop``.

Not part of the suite (it needs the official code): clone dungdinhanh/compt_guidance at 1997d4f and run
``python tests/golden/compt_guidance_cfg.py --official PATH``; it prints the test's two sums.

Same toy models (the test's ``conditional`` as the class-conditional model, ``unconditional`` as their
``uncond_model``), respacing (50 of 1000 steps, cosine, learned sigma), labels [1, 2, 3] and noise as the test: the
initial noise and each step's ``th.randn_like`` draw come from one generator per sample (seeds 7, 8, 9, the test's
``step_noise``), patched into the official module. The diffusion is built by their
``create_gaussian_diffusion_clsfree2_comptquad`` and sampled as their
``scripts_gdiff/compt_guidance/classifier_free_compt_sample_quadratic.py`` does: ``model_fn`` gets ``y``,
``cond_fn`` is the unconditional model, ``w_cond`` (their ``--cond_model_scale``) is w = s - 1 = 0.3 for our s = 1.3
(their ``(1 + w) e_c - w e_u`` is our ``e_u + s (e_c - e_u)``).

Schedule mapping: our ``{"kind": "compress", "skip": 5, "k": 2}`` at n = 50 is their quadratic script's
``--timestep_respacing 50 --skip 5`` (k = 2 is hard-coded there: slot i lands on ``(n - 1) - int(c * i**2)``,
``c = n / int(n / skip)**2``, the last two indices set to 1). ``diffusion.guidance_steps`` is the array their
``get_guidance_timesteps_with_weight(50, 5)`` returns; that function is read from the official script and run
as is (the script itself imports ``hfai``, so it is not imported), and checked against ``build_schedule``.
``skip_compt`` is set as the script sets it, though ``ComptQuad`` does not read it.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import numpy as np
import torch

TESTS = Path(__file__).resolve().parents[1]
SCRIPT = "scripts_gdiff/compt_guidance/classifier_free_compt_sample_quadratic.py"


def official_schedule(official: Path, n: int, skip: int) -> np.ndarray:
    """``get_guidance_timesteps_with_weight(n, skip)`` from the official quadratic script, without its imports."""
    tree = ast.parse((official / SCRIPT).read_text())
    function = next(node for node in tree.body
                    if isinstance(node, ast.FunctionDef) and node.name == "get_guidance_timesteps_with_weight")
    namespace: dict = {"np": np}
    exec(compile(ast.Module(body=[function], type_ignores=[]), str(official / SCRIPT), "exec"), namespace)
    return namespace["get_guidance_timesteps_with_weight"](n, skip)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, required=True, help="a compt_guidance checkout at 1997d4f")
    args = parser.parse_args()
    sys.path[:0] = [str(args.official), str(TESTS)]
    from guided_diffusion import gaussian_diffusion as gd
    from guided_diffusion.script_util_classifier_free import create_gaussian_diffusion_clsfree2_comptquad
    from test_compress_guidance_guidance import conditional, unconditional

    from bench.seeding import step_noise
    from bench.methods.compress_guidance.schedule import build_schedule

    n, skip, scale, shape = 50, 5, 1.3, (3, 2, 4, 4)
    labels = torch.tensor([1, 2, 3])
    generators = [torch.Generator().manual_seed(7 + i) for i in range(shape[0])]
    gd.th.randn_like = lambda x, g=generators: step_noise(g, x)  # the only draw in the official p_sample
    diffusion = create_gaussian_diffusion_clsfree2_comptquad(
        steps=1000, learn_sigma=True, noise_schedule="cosine", timestep_respacing=str(n))
    diffusion.skip_compt = skip
    diffusion.guidance_steps = official_schedule(args.official, n, skip)
    ours = build_schedule({"kind": "compress", "skip": skip, "k": 2}, n).counts
    assert tuple(int(c) for c in diffusion.guidance_steps) == ours, (diffusion.guidance_steps, ours)

    def model_fn(x, t, y=None):  # noqa: ANN001, ANN202 - the quadratic script's
        assert y is not None
        return conditional(x, t, y)

    def cond_fn(x, t, y=None):  # noqa: ANN001, ANN202 - the quadratic script's: the unconditional model
        assert y is not None
        return unconditional(x, t)

    noise = step_noise(generators, torch.empty(shape))
    sample = diffusion.p_sample_loop(model_fn, shape, noise=noise, clip_denoised=True, model_kwargs={"y": labels},
                                     cond_fn=cond_fn, device=torch.device("cpu"), progress=False,
                                     w_cond=scale - 1)
    print(f"assert float(sample.double().sum()) == pytest.approx({float(sample.double().sum())!r}, abs=tol)")
    print(f"assert float(sample.double().abs().sum()) == pytest.approx({float(sample.double().abs().sum())!r}, "
          "abs=tol)")


if __name__ == "__main__":
    main()
