"""Method adapters, one folder per paper (plus shared adapters such as ``classifier``).

Importing this package registers every adapter in ``bench.registry.METHODS``; adapters import their heavy
dependencies inside their own functions, so this stays cheap.
"""
from bench.methods import (  # noqa: F401
    adaptive_momentum_sampler,
    classifier,
    compress_guidance,
    consistency_calibration,
    diffact,
    difftriplet,
    diffusion,
    idc,
    openmmlab,
    trident,
    two_in_one_kd,
    vssd,
)
