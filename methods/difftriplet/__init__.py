"""DiffTriplet (arXiv 2406.13210): surgical action-triplet recognition with a DiffAct-style diffusion model over
joint [triplet | instrument | verb | target] frame labels and association guidance.

No official code or weights exist; this is a re-implementation from the paper's description, with the settings the
paper does not give taken from the third-party DiffTriplet-Anticipation derivative (documented per config key).
Importing registers the ``DiffTriplet`` method adapter.
"""
from bench.methods.difftriplet import demo  # noqa: F401  (registers the demo summary in DEMOS)
from bench.methods.difftriplet.adapter import DiffTriplet
from bench.methods.difftriplet.association import AssociationGuidance, component_matrix

__all__ = ["AssociationGuidance", "DiffTriplet", "component_matrix"]
