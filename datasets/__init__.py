"""Dataset readers, one module per dataset family, registered in ``bench.registry.DATASETS``."""
from bench.datasets import digits  # noqa: F401
