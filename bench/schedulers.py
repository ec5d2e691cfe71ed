"""Registers diffusers' scheduler classes in ``bench.registry.SCHEDULERS``, so a config's ``scheduler=dict(type=
"DDIMScheduler")`` is a registry look-up like any other. Imported by the registry on its first query only (it
imports diffusers, seconds); papers register their own schedulers with ``SCHEDULERS.register_lazy``."""
from __future__ import annotations

import diffusers

from bench.registry import SCHEDULERS


def library_schedulers() -> dict[str, type]:
    """diffusers' public ``*Scheduler`` classes with ``from_config``; placeholders of missing extras are left out."""
    found = {}
    for name in dir(diffusers):
        if not name.endswith("Scheduler"):
            continue
        cls = getattr(diffusers, name, None)
        if isinstance(cls, type) and hasattr(cls, "from_config") and not hasattr(cls, "_backends"):
            found[name] = cls
    return found


for _name, _cls in library_schedulers().items():
    SCHEDULERS.register_module(name=_name, module=_cls)
