"""The registries (methods, datasets, metrics, evaluation tasks, image feature extractors, diffusion schedulers,
adversarial attacks, video scorers, demo summaries) and strict, suggesting look-up.

Built on mmengine's ``Registry``: entries register where they are defined, and the modules listed in
``locations`` (core's own) are imported only when a registry is first queried. Unknown names raise
:class:`UnknownNameError` with "did you mean" suggestions listing every known name.

Imports flow one way (core never imports ``bench.methods`` or ``bench.datasets``), yet core builds their entries by
name. Two mechanisms find those:

- ``fallback_locations``: packages (``bench.methods``, ``bench.datasets``) whose entries are found by a scan of
  their source (:mod:`bench.entry_index`, no imports): a name not registered yet imports only the module that
  registers it, so building ``TimmClassifier`` imports ``bench.methods.classifier`` and not diffusers, open_clip or
  segment_anything, and a config naming ``GuideAccuracy`` finds Compress Guidance's metric.
- :meth:`BenchRegistry.register_lazy`: an entry ``name -> "module:Object"`` whose module is imported on first
  ``get`` (lm-eval style), for entries whose module is heavy (AMS's scheduler needs diffusers) or third-party
  (torchattacks' and diffusers' classes, registered by the location modules ``bench.tasks.robustness.library``
  and ``bench.schedulers`` only when those registries are queried).
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from typing import Any

from mmengine.registry import Registry

from bench.suggest import suggest  # noqa: F401 - re-exported: adapters import it from here


class RegistryConfigError(ValueError):
    """A registry dict is malformed: no ``type`` key, or keys the constructor does not accept."""


class UnknownNameError(KeyError):
    """A config named a registry entry that does not exist."""

    def __str__(self) -> str:  # KeyError quotes its argument; show the message as written
        return str(self.args[0])


class BenchRegistry(Registry):
    """mmengine registry with strict look-up (an unknown ``type`` is an error with suggestions), lazy
    ``"module:Object"`` entries and ``fallback_locations``: packages whose entries are imported one module at a time,
    found through :func:`bench.entry_index.entry_index`."""

    def __init__(self, name: str, *args: Any, fallback_locations: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(name, *args, **kwargs)
        self.fallback_locations = list(fallback_locations)
        self._opaque_imported = False
        self._lazy: dict[str, str] = {}

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``name`` as ``"package.module:Object"``, imported (and registered for real) on first ``get``."""
        module, colon, attribute = target.partition(":")
        if not colon or not module or not attribute:
            raise ValueError(f"lazy {self.name} entry {name!r}: target must be 'module:Object', got {target!r}")
        if name in self._module_dict or self._lazy.get(name, target) != target:
            raise KeyError(f"{name} is already registered in {self.name}")
        self._lazy[name] = target

    def _attribute(self) -> str:
        """This registry's name in :mod:`bench.registry` (what adapters import and the source scan records)."""
        return next((key for key, value in globals().items() if value is self), "")

    def indexed(self) -> dict[str, str]:
        """``{name: module}`` for this registry's entries in ``fallback_locations``, read from source, no imports."""
        from bench.entry_index import entry_index

        found: dict[str, str] = {}
        for package in self.fallback_locations:
            found.update(entry_index(package).entries.get(self._attribute(), {}))
        return found

    def import_fallbacks(self) -> None:
        """Import the fallback modules whose registrations the source scan could not read (once)."""
        from bench.entry_index import entry_index

        if not self._opaque_imported:
            self._opaque_imported = True
            for package in self.fallback_locations:
                for module in entry_index(package).opaque.get(self._attribute(), []):
                    importlib.import_module(module)

    def names(self) -> list[str]:
        """Every name this registry can build (its locations imported; fallback entries from the source index)."""
        self.import_from_location()
        self.import_fallbacks()
        return sorted(set(self.module_dict) | set(self._lazy) | set(self.indexed()))

    def _resolve_lazy(self, key: str) -> Any:
        module, _, attribute = self._lazy.pop(key).partition(":")
        found = getattr(importlib.import_module(module), attribute)
        if super().get(key) is None:  # the module may have registered it itself
            self.register_module(name=key, module=found)
        return found

    def get(self, key: str) -> Any:
        found = super().get(key)
        if found is None and key not in self._lazy and self.fallback_locations:
            module = self.indexed().get(key)
            if module is not None:
                importlib.import_module(module)
            else:
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
        check_value_types(target, params, where=f"{self.name} {obj_type!r}")
        try:
            return target(*args, **params)
        except TypeError as error:  # a value of the wrong type (a str where a number goes) fails deep inside
            given = ", ".join(f"{k}={v!r} ({type(v).__name__})" for k, v in params.items()) or "none"
            raise RegistryConfigError(
                f"{self.name} {obj_type!r} could not be built: {type(error).__name__}: {error}\n  arguments given: "
                f"{given}\n  check each value's type in the config's section (or --cfg-options); --debug shows "
                "where it failed") from error


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


_SCALARS = (bool, int, float, str)


def _scalar_options(hint: Any) -> tuple[type, ...] | None:
    """The scalar types a simple annotation allows (``int``, ``float | None``, ...); None when it is anything else
    (containers, paths, unions with other types), which are left to the constructor."""
    import types
    import typing

    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if not all(option in _SCALARS or option is type(None) for option in options):
        return None
    allowed = list(dict.fromkeys(options))
    if float in allowed and int not in allowed:
        allowed.insert(allowed.index(float) + 1, int)  # 3 where a float goes
    return tuple(allowed)


def check_value_types(target: Any, params: dict, where: str) -> None:
    """Refuse a config value whose type its constructor's annotation rules out (``num_classes='abc'`` where the
    annotation says ``int``), naming the key, the value and the type wanted; only scalar annotations are checked."""
    import typing

    try:
        hints = typing.get_type_hints(target.__init__ if isinstance(target, type) else target)  # type: ignore[misc]
    except Exception:  # noqa: BLE001 - unresolvable annotations: nothing to check against
        return
    for key, value in params.items():
        options = _scalar_options(hints.get(key)) if key in hints else None
        if options is None:
            continue
        ok = isinstance(value, options) and not (isinstance(value, bool) and bool not in options)
        if not ok:
            wanted = " or ".join("None" if t is type(None) else t.__name__ for t in options)
            raise RegistryConfigError(f"{where}: {key} must be {wanted}, got {value!r} ({type(value).__name__}); "
                                      f"fix it in the config (or --cfg-options)")


def import_submodules(package: str, path: Sequence[str], packages_only: bool = False) -> list[str]:
    """Import every sub-module (or only sub-package) of ``package`` found on its ``path``, in name order, so their
    entries register (the registries themselves import one module per entry, see :mod:`bench.entry_index`)."""
    names = sorted(info.name for info in pkgutil.iter_modules(list(path)) if info.ispkg or not packages_only)
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names


METHODS = BenchRegistry("method", scope="bench", fallback_locations=["bench.methods"])
DATASETS = BenchRegistry("dataset", scope="bench", fallback_locations=["bench.datasets"])
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
#: per-video scorers of the video generation task (``scorer(video uint8 [F, H, W, 3]) -> float``, ``.to(device)``;
#: interface in ``bench.tasks.generation.video_scorers.base``): VBench's dimensions in core, a paper's own (the
#: ConFiner demo's) registered from its package
VIDEO_SCORERS = BenchRegistry("video scorer", scope="bench", locations=["bench.tasks.generation.video_scorers"],
                              fallback_locations=["bench.methods"])
#: each demo group's summariser (``bench.demo.DemoSummary`` from the group's results): the harness's own in
#: ``bench.demo``, a paper's in ``methods/<slug>/demo.py`` registered under the paper's slug
DEMOS = BenchRegistry("demo summary", scope="bench", locations=["bench.demo"], fallback_locations=["bench.methods"])
