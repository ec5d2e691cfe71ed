"""Training-data attribution: the ``data_attribution`` task scored by the linear datamodeling score (LDS) against
the losses of models retrained on random training subsets (D-TRAK's benchmark)."""
from bench.tasks.attribution.task import CounterfactualTask, DataAttributionTask, LDSGroundTruthTask

__all__ = ["CounterfactualTask", "DataAttributionTask", "LDSGroundTruthTask"]
