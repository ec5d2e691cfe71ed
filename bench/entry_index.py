"""Which module registers each registry entry of a package, found by reading its source (no imports).

``bench.methods`` and ``bench.datasets`` hold every paper's adapters and readers; importing them all to find one
class would load diffusers, open_clip and segment_anything for a digits run. :func:`entry_index` scans the
package's ``.py`` files with :mod:`ast` for registrations into a ``bench.registry`` registry (imported by name from
``bench.registry``):

- ``@METHODS.register_module()`` / ``register_module(name="X")`` (a string or a list of strings) decorating a
  top-level class or function;
- ``METHODS.register_module(name="X", module=...)`` and ``SCHEDULERS.register_lazy("X", "module:Object")`` calls at
  module level.

A registration it cannot read (a name computed at run time, a registration inside a function or loop) marks its
module *opaque* for that registry: the registry imports such modules before it reports a name unknown.
"""
from __future__ import annotations

import ast
import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

REGISTRY_MODULE = "bench.registry"
REGISTER_METHODS = ("register_module", "register_lazy")


@dataclass
class EntryIndex:
    """``entries[registry][name]`` is the module registering ``name`` into the ``bench.registry`` attribute
    ``registry``; ``opaque[registry]`` are modules with registrations the scan could not read."""

    entries: dict[str, dict[str, str]] = field(default_factory=dict)
    opaque: dict[str, list[str]] = field(default_factory=dict)


def package_root(package: str) -> Path:
    """The folder of an installed package, found without importing it (only its parent packages)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed as a package; reinstall bench (README quick start)")
    return Path(list(spec.submodule_search_locations)[0])


@lru_cache(maxsize=None)
def entry_index(package: str) -> EntryIndex:
    """Scan every module under ``package`` (cached per process: the tree does not change while it runs)."""
    root = package_root(package)
    index = EntryIndex()
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if "__pycache__" in parts:
            continue
        text = path.read_text(encoding="utf-8")
        if REGISTRY_MODULE not in text:
            continue
        module = ".".join((package, *parts[:-1])) if parts[-1] == "__init__" else ".".join((package, *parts))
        _scan(ast.parse(text, filename=str(path)), module, index)
    return index


def _scan(tree: ast.Module, module: str, index: EntryIndex) -> None:
    """Add the registrations of one module's syntax tree to ``index``."""
    aliases = {alias.asname or alias.name: alias.name for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module == REGISTRY_MODULE and node.level == 0
               for alias in node.names}
    read: set[int] = set()  # registration calls understood

    def registration(node: ast.AST) -> tuple[str, ast.Call] | None:
        """``(registry attribute, call)`` when ``node`` calls a registering method of a bench registry."""
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in REGISTER_METHODS
                and isinstance(node.func.value, ast.Name) and node.func.value.id in aliases):
            return aliases[node.func.value.id], node
        return None

    def add(found: tuple[str, ast.Call], default: str | None) -> None:
        registry, call = found
        if isinstance(call.func, ast.Attribute) and call.func.attr == "register_lazy" and default is not None:
            return  # register_lazy used as a decorator: not a form the scan reads
        names = _literal_names(call, default)
        if names is not None:
            read.add(id(call))
            for name in names:
                index.entries.setdefault(registry, {})[name] = module

    for statement in tree.body:
        if isinstance(statement, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            for decorator in statement.decorator_list:
                found = registration(decorator)
                if found is not None:
                    add(found, default=statement.name)
        elif isinstance(statement, ast.Expr):
            found = registration(statement.value)
            if found is not None:
                add(found, default=None)
    for node in ast.walk(tree):
        found = registration(node)
        if found is not None and id(found[1]) not in read:
            opaque = index.opaque.setdefault(found[0], [])
            if module not in opaque:
                opaque.append(module)


def _literal_names(call: ast.Call, default: str | None) -> list[str] | None:
    """The names a ``register_module``/``register_lazy`` call registers, when written as literals, else None."""
    arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "name"), None)
    if arg is None:
        return [default] if default is not None else None
    try:
        value = ast.literal_eval(arg)
    except ValueError:
        return None
    if value is None:
        return [default] if default is not None else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return None
