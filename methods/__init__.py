"""Method adapters, one folder per paper (plus shared adapters such as ``classifier``).

Importing this package imports no adapter: the registries in ``bench.registry`` find each entry's module by reading
the source (``bench.entry_index``) and import only that one, so a digits run never loads diffusers. ``PACKAGES``
lists the paper folders found here (no hand-kept list: a new paper's folder is picked up).
"""
import pkgutil

PACKAGES = sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg)
