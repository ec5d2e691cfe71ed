"""DiffAct (arXiv 2303.17959, ICCV 2023): diffusion action segmentation, faithful to Finspire13/DiffAct.

Importing registers the ``DiffAct`` method adapter. The model's state dict names are the official ones, so the
released ``release.model`` files load with ``strict=True``.
"""
from bench.methods.diffact import demo  # noqa: F401  (registers the demo summary in DEMOS)
from bench.methods.diffact.adapter import DiffAct
from bench.methods.diffact.model import ASDiffusionModel

__all__ = ["ASDiffusionModel", "DiffAct"]
