"""OpenMMLab models (mmsegmentation, mmdetection) as method adapters, shared by several papers' configs."""
from bench.methods.openmmlab.detector import MMDetDetector
from bench.methods.openmmlab.segmentor import MMSegSegmentor

__all__ = ["MMDetDetector", "MMSegSegmentor"]
