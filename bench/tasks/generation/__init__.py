"""Image and video generation: the tasks, reference statistics, image feature extractors, per-video scorers (VBench's
dimensions) and exports."""
from bench.tasks.generation.task import GenerationTask
from bench.tasks.generation.video import VideoGenerationTask

__all__ = ["GenerationTask", "VideoGenerationTask"]
