"""Two-in-one knowledge distillation for face-forgery detection (arXiv 2302.10437): a dual-branch (spatial +
frequency) teacher distilled into one small single-branch student through a dedicated projector per teacher branch,
with gradient homogenization of the two distillation signals. Only the abstract is public and there is no code, so
this is a documented re-implementation: every unknown the sheet lists is a named option with its default and reason.

Modules so far: :mod:`~bench.methods.two_in_one_kd.frequency` (the teacher's DCT band input),
:mod:`~bench.methods.two_in_one_kd.models` (dual-branch teacher, timm student, projectors),
:mod:`~bench.methods.two_in_one_kd.homogenization` (equal-norm rescaling and conflict projection) and
:mod:`~bench.methods.two_in_one_kd.distillation` (the ablation's distillation modes and the homogenized gradient
step).
"""

IMPLEMENTATION = "re-implementation"
SMOKE_ONLY = False
IN_PROGRESS = ("the DCT band input, the dual-branch teacher, student and projectors, the distillation modes and "
               "the homogenized gradient step (equal-norm, conflict projection) exist and are tested; the training "
               "loop, the adapter, configs and demo do not yet")
from bench.methods.two_in_one_kd.adapter import DualBranchForgeryTeacher, TwoInOneKD  # noqa: E402

NOT_REPRODUCIBLE = "only the abstract is public (no code, no numbers): the paper table stays 'reported: unknown'"

__all__ = ["DualBranchForgeryTeacher", "IMPLEMENTATION", "IN_PROGRESS", "NOT_REPRODUCIBLE", "SMOKE_ONLY", "TwoInOneKD"]
