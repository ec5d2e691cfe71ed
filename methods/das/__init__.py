"""DAS, the Diffusion Attribution Score (arXiv 2410.18639, ICLR 2025, "Diffusion Attribution Score: Evaluating
Training Data Influence in Diffusion Models"), with the TRAK and D-TRAK baselines it compares against, scored by the
linear datamodeling score (LDS) of D-TRAK's benchmark (``bench.tasks.attribution``).

Modules: :mod:`.features` (per-sample gradient features with ``torch.func``, TRAK's projector, the resumable
``FeatureStore``, DAS's residuals), :mod:`.scores` (TRAK / D-TRAK / DAS scores on the ridge kernel, the λ grid and
its held-out selection), :mod:`.adapter` (the ``DataAttribution`` method adapter), :mod:`.generation` (D-TRAK's
generated ArtBench queries from the attributed LoRA) and :mod:`.demo` (the digits-2 demo's summary).

A re-implementation, not a wrapper: the official code (``Jinxu-Lin/DAS``) does not run as released (wrong call
signatures in ``03_grad.py``, a dataset selector returning None, stage outputs written and read at different paths,
an ``artbench2`` module shipped only as bytecode; the sheet lists them), so every step is written from the paper and
the code's intent. Deviations, each with its reason in the module that makes it:

- noise ε_t drawn on a CPU generator seeded ``e_seed·1000 + t``, one row per dataset position modulo the official
  batch size (the code draws on the GPU per batch): the same structure, independent of device and of our batching;
- ``uniform`` timesteps divide by the number of timesteps used (the code divides by N even when range() gives more);
- an unknown model-output name is an error (the code silently uses ``mse``);
- attention switched to diffusers' classic processor for vmap instead of deleting torch's SDPA for the process;
- ``das1`` multiplies each training column by its residual (the code's broadcast works only when Q == N);
- ``das0`` (leverage) is implemented correctly: h_i from the training features, S·r/(1 − h) (the code builds h from
  the query × train matrix, reads an undefined ``args.dim`` and divides by (1 − h)²);
- kernel algebra in float64 with Cholesky solves (the code's float32 inverse has no correct digit at small λ);
- λ chosen on held-out queries; the code's best-over-grid on the evaluation queries is recorded beside it, labelled
  "selected on test, as published";
- the CPU ``BasicProjector`` where fast_jl's ``CudaProjector`` is unavailable (a different matrix, recorded).
"""
from bench.methods.das import demo  # noqa: F401  (registers the demo summary)
from bench.methods.das.adapter import DataAttribution
from bench.methods.das.counterfactual import Counterfactual
from bench.methods.das.generation import LoRATextToImageSampler
from bench.methods.das.retrain import LDSGroundTruth

__all__ = ["Counterfactual", "DataAttribution", "LDSGroundTruth", "LoRATextToImageSampler"]
