"""Adversarial robustness: the task and the attacks it builds from config specs."""
from bench.tasks.robustness.task import RobustnessTask

__all__ = ["RobustnessTask"]
