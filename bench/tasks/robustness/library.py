"""Registers torchattacks' attack classes in ``bench.registry.ATTACKS``, so an attack spec's ``type`` is a registry
look-up like any other. Imported by the registry on its first query only (it imports torchattacks)."""
from __future__ import annotations

import torchattacks

from bench.registry import ATTACKS


def library_attacks() -> dict[str, type]:
    """torchattacks' public attack classes (subclasses of ``torchattacks.attack.Attack``) by name."""
    return {name: cls for name in torchattacks.__all__ if isinstance(cls := getattr(torchattacks, name, None), type)
            and issubclass(cls, torchattacks.attack.Attack)}


for _name, _cls in library_attacks().items():
    ATTACKS.register_module(name=_name, module=_cls)
