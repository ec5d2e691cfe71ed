"""The registries (methods, datasets, metrics, evaluation tasks, image feature extractors, diffusion schedulers,
adversarial attacks) and strict, suggesting look-up.

Built on mmengine's ``Registry``: entries register where they are defined, and the modules listed in
``locations`` are imported only when a registry is first queried, so ``bench papers`` never imports a
diffusion stack. Unknown names raise :class:`UnknownNameError` with "did you mean" suggestions.

Imports flow one way (core never imports ``bench.methods`` or ``bench.datasets``), yet a paper may define its own
metric, task, extractor or scheduler next to its adapter. Two mechanisms let core find those by name:

- ``fallback_locations``: modules imported only when a name is not found after ``locations`` (``bench.methods``
  for metrics, tasks, extractors and schedulers), so a config naming ``GuideAccuracy`` finds Compress Guidance's
  metric, while core's own look-ups never import a method package.
- :meth:`BenchRegistry.register_lazy`: an entry ``name -> "module:Object"`` whose module is imported on first
  ``get`` (lm-eval style), for entries whose module is heavy (AMS's scheduler needs diffusers) or third-party
  (torchattacks' and diffusers' classes, registered by the location modules ``bench.tasks.robustness.library``
  and ``bench.schedulers`` only when those registries are queried).
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Sequence
from typing import Any

from mmengine.registry import Registry


class RegistryConfigError(ValueError):
    """A registry dict is malformed: no ``type`` key, or keys the constructor does not accept."""


class UnknownNameError(KeyError):
    """A config named a registry entry that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written
        return str(self.args[0])


def suggest(name: str, choices: list[str] | tuple[str, ...], n: int = 3) -> str:
    """``" Did you mean 'x' or 'y'?"`` for the closest choices, or an empty string."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"


class BenchRegistry(Registry):
    """mmengine registry with strict look-up (an unknown ``type`` is an error with suggestions), lazy
    ``"module:Object"`` entries and ``fallback_locations`` imported only for names ``locations`` do not define."""

    def __init__(self, name: str, *args: Any, fallback_locations: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self.fallback_locations = list(fallback_locations)
        self._fallback_imported = False
        self._lazy: dict[str, str] = {}

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``name`` as ``"package.module:Object"``, imported (and registered for real) on first ``get``."""
        module, colon, attribute = target.partition(":")
        if not colon or not module or not attribute:
            raise ValueError(f"lazy {self.name} entry {name!r}: target must be 'module:Object', got {target!r}")
        if name in self._module_dict or self._lazy.get(name, target) != target:
            raise KeyError(f"{name} is already registered in {self.name}")
        self._lazy[name] = target

    def import_fallbacks(self) -> None:
        """Import ``fallback_locations`` once (the modules that define entries outside core)."""
        if not self._fallback_imported:
            self._fallback_imported = True
            for location in self.fallback_locations:
                importlib.import_module(location)

    def names(self) -> list[str]:
        """Every name this registry can build: after importing its locations and fallbacks, with lazy entries."""
        self.import_from_location()
        self.import_fallbacks()
        return sorted(set(self.module_dict) | set(self._lazy))

    def _resolve_lazy(self, key: str) -> Any:
        module, _, attribute = self._lazy.pop(key).partition(":")
        found = getattr(importlib.import_module(module), attribute)
        if super().get(key) is None:  # the module may have registered it itself
            self.register_module(name=key, module=found)
        return found

    def get(self, key: str) -> Any:
        found = super().get(key)
        if found is None and key not in self._lazy:
            self.import_fallbacks()
            found = super().get(key)
        if found is None and key in self._lazy:
            found = self._resolve_lazy(key)
        if found is None:
            names = self.names()
            raise UnknownNameError(
                f"{key!r} is not a registered {self.name}.{suggest(str(key), names)} "
                f"Known {self.name}: {', '.join(names) or '(none)'}."
            )
        return found

    def build(self, cfg: dict, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if not isinstance(cfg, dict) or "type" not in cfg:
            raise RegistryConfigError(f"a {self.name} config needs a 'type' key, got {cfg!r}")
        obj_type = cfg["type"]
        target = self.get(obj_type) if isinstance(obj_type, str) else obj_type
        params = {k: v for k, v in dict(cfg).items() if k != "type"}
        params.update(kwargs)
        check_kwargs(target, params, where=f"{self.name} {obj_type!r}")
        return target(*args, **params)


def check_kwargs(target: Any, params: dict, where: str) -> None:
    """Reject config keys that ``target`` does not accept, naming the closest accepted ones."""
    import inspect

    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    accepted = [n for n, p in signature.parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    unknown = [k for k in params if k not in accepted]
    if unknown:
        hints = "".join(f"\n  {k!r}:{suggest(k, accepted) or ' no close match.'}" for k in unknown)
        raise RegistryConfigError(f"unknown config key(s) for {where}:{hints}\nAccepted keys: {', '.join(accepted)}.")


def import_submodules(package: str, path: Sequence[str], packages_only: bool = False) -> list[str]:
    """Import every sub-module (or only sub-package) of ``package`` found on its ``path``, in name order, so their
    entries register; what ``bench.methods`` and ``bench.datasets`` do instead of a hand-kept import list."""
    names = sorted(info.name for info in pkgutil.iter_modules(list(path)) if info.ispkg or not packages_only)
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names


METHODS = BenchRegistry("method", scope="bench", locations=["bench.methods"])
DATASETS = BenchRegistry("dataset", scope="bench", locations=["bench.datasets"])
METRICS = BenchRegistry("metric", scope="bench", locations=["bench.metrics"], fallback_locations=["bench.methods"])
TASKS = BenchRegistry("task", scope="bench", locations=["bench.tasks"], fallback_locations=["bench.methods"])
EXTRACTORS = BenchRegistry("feature extractor", scope="bench", locations=["bench.tasks.generation.extractors"],
                           fallback_locations=["bench.methods"])
#: diffusers' scheduler classes (``bench.schedulers``, imports diffusers) and the papers' own (``register_lazy``)
SCHEDULERS = BenchRegistry("scheduler", scope="bench", locations=["bench.schedulers"],
                           fallback_locations=["bench.methods"])
#: torchattacks' attack classes (``bench.tasks.robustness.library``) and the attacks composed in core
ATTACKS = BenchRegistry("attack", scope="bench",
                        locations=["bench.tasks.robustness.attacks", "bench.tasks.robustness.library"])
#: each demo group's summariser (``bench.demo.DemoSummary`` from the group's results): the harness's own in
#: ``bench.demo``, a paper's in ``methods/<slug>/demo.py`` registered under the paper's slug
DEMOS = BenchRegistry("demo summary", scope="bench", locations=["bench.demo"], fallback_locations=["bench.methods"])
