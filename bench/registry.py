"""The registries (methods, datasets, metrics, evaluation tasks, image feature extractors) and strict,
suggesting look-up.

Built on mmengine's ``Registry``: entries register where they are defined, and the modules listed in
``locations`` are imported only when a registry is first queried, so ``bench papers`` never imports a
diffusion stack. Unknown names raise :class:`UnknownNameError` with "did you mean" suggestions.
"""
from __future__ import annotations

import difflib
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
    """mmengine registry with strict look-up: an unknown ``type`` is an error with suggestions."""

    def get(self, key: str) -> Any:
        found = super().get(key)
        if found is None:
            self.import_from_location()
            names = sorted(self.module_dict)
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


METHODS = BenchRegistry("method", scope="bench", locations=["bench.methods"])
DATASETS = BenchRegistry("dataset", scope="bench", locations=["bench.datasets"])
METRICS = BenchRegistry("metric", scope="bench", locations=["bench.metrics"])
TASKS = BenchRegistry("task", scope="bench", locations=["bench.tasks"])
EXTRACTORS = BenchRegistry("feature extractor", scope="bench",
                           locations=["bench.tasks.generation.extractors", "bench.methods.classifier.features"])
