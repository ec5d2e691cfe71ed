"""Training-data attribution: the ``data_attribution`` task scored by the linear datamodeling score (LDS) against
the losses of models retrained on random training subsets (D-TRAK's benchmark)."""
from bench.tasks.attribution.task import DataAttributionTask, LDSGroundTruthTask

__all__ = ["DataAttributionTask", "LDSGroundTruthTask"]
