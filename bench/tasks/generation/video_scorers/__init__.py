"""Per-video scorers of the video generation task (``bench.registry.VIDEO_SCORERS``): VBench's subject consistency,
motion smoothness, aesthetic quality and imaging quality, each to VBench's protocol with weights from local files.

Why not the ``vbench`` package itself: vbench 0.1.5 pins ``transformers==4.33.2``, ``numpy<2`` and ``timm<=1.0.12``
(our lock: transformers 5.x, numpy 2.x, timm 1.0.31), and fetches missing weights with ``wget``; it installs and
imports only in a venv of its own. So the four dimensions are re-implemented here from its code
(``vbench/subject_consistency.py``, ``motion_smoothness.py`` with AMT-S in :mod:`.amt`, ``aesthetic_quality.py``,
``imaging_quality.py`` with pyiqa's MUSIQ in :mod:`.musiq`, ``utils.py``) and read the weight files from VBench's
cache layout (:func:`.base.vbench_cache_dir`). The interface is in :mod:`.base`; importing this package registers
the scorers (their networks load only when built). :mod:`.long` applies any of them to long videos by VBench-Long's
protocol (``VBenchLong``).
"""
from bench.tasks.generation.video_scorers import (aesthetic_quality, imaging_quality, long,  # noqa: F401
                                                  motion_smoothness, subject_consistency)
from bench.tasks.generation.video_scorers.base import ScorerUnavailableError, VideoScorer

__all__ = ["ScorerUnavailableError", "VideoScorer"]
