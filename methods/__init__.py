"""Method adapters, one folder per paper (plus shared adapters such as ``classifier``).

Importing this package imports every sub-package found here (no hand-kept list: a new paper's folder is picked up),
which registers every adapter in ``bench.registry.METHODS``; adapters import their heavy dependencies inside their
own functions, so this stays cheap.
"""
from bench.registry import import_submodules

PACKAGES = import_submodules(__name__, __path__, packages_only=True)
