"""Dataset readers, one module per dataset family, registered in ``bench.registry.DATASETS``.

Importing this package imports every module found here (no hand-kept list: a new reader is picked up)."""
from bench.registry import import_submodules

MODULES = import_submodules(__name__, __path__)
