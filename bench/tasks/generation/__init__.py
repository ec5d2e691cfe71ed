"""Image generation: the task, reference statistics, image feature extractors and image exports."""
from bench.tasks.generation.task import GenerationTask

__all__ = ["GenerationTask"]
