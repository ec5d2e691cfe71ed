"""Consistency Calibration (Tao et al., arXiv 2410.12295) and the post-hoc calibration baselines it is compared to.

Status: the paper has no official code; this follows the first author's library (Linwei94/calibrator), the
sheet's de-facto reference. Post-hoc calibration needs no foundation weights, so runs are real results; the
paper's own table numbers are unknown to the sheet, so only the derived regression table can be compared.
"""
from bench.methods.consistency_calibration import baselines, consistency  # noqa: F401
from bench.methods.consistency_calibration.adapter import PostHocCalibration
from bench.methods.consistency_calibration.calibrator import CALIBRATORS, Calibrator

__all__ = ["CALIBRATORS", "Calibrator", "PostHocCalibration"]
