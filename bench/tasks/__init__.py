"""Evaluation tasks, one module (or sub-package) per task family.

Each family names the output columns it needs, its default metrics, and what it writes besides metrics
(figures, exports in a paper's own file format). Importing this package registers every task in
``bench.registry.TASKS``; the heavy parts (feature extractors, attacks) import only when a task uses them.
"""
from bench.tasks import (action_segmentation, attribution, classification, detection, generation,  # noqa: F401
                         memorization, robustness, segmentation, triplets)
from bench.tasks.base import EvalTask

__all__ = ["EvalTask"]
