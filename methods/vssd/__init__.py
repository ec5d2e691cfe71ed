"""VSSD (arXiv 2407.18559, v1 code): Vision Mamba with non-causal state space duality, in pure PyTorch.

Importing registers the timm entrypoints ``vssd_micro``, ``vssd_tiny``, ``vssd_small`` and ``vssd_base``.
"""
from bench.methods.vssd import model  # noqa: F401  (registers the timm entrypoints)
from bench.methods.vssd.model import (VSSD, VSSD_VARIANTS, NCSSD, VSSDBackbone, load_vssd_weights, nc_ssd,
                                      select_state_dict)

__all__ = ["NCSSD", "VSSD", "VSSDBackbone", "VSSD_VARIANTS", "load_vssd_weights", "nc_ssd", "select_state_dict"]
