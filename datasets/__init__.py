"""Dataset readers, one module per dataset family, registered in ``bench.registry.DATASETS``.

Importing this package imports no reader: ``DATASETS`` finds each entry's module by reading the source
(``bench.entry_index``) and imports only that one. ``MODULES`` lists the readers found here."""
import pkgutil

MODULES = sorted(info.name for info in pkgutil.iter_modules(__path__))
