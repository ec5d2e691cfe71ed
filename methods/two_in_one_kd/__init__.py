"""Two-in-one knowledge distillation for face-forgery detection (arXiv 2302.10437): a dual-branch (spatial +
frequency) teacher distilled into one small single-branch student through a dedicated projector per teacher branch,
with gradient homogenization of the two distillation signals. Only the abstract is public and there is no code, so
this is a documented re-implementation: every unknown the sheet lists is a named option with its default and reason.

Modules: :mod:`~bench.methods.two_in_one_kd.frequency` (the teacher's DCT band input),
:mod:`~bench.methods.two_in_one_kd.models` (dual-branch teacher, timm student, projectors),
:mod:`~bench.methods.two_in_one_kd.homogenization` (equal-norm rescaling and conflict projection),
:mod:`~bench.methods.two_in_one_kd.distillation` (the ablation's distillation modes and the homogenized gradient
step) and :mod:`~bench.methods.two_in_one_kd.adapter` (the ``DualBranchForgeryTeacher`` and ``TwoInOneKD``
adapters).
"""
from bench.methods.two_in_one_kd import demo  # noqa: F401  (registers the demo summary in DEMOS)
from bench.methods.two_in_one_kd.adapter import DualBranchForgeryTeacher, TwoInOneKD

__all__ = ["DualBranchForgeryTeacher", "TwoInOneKD"]
