"""A light reader of python config files: mmengine's ``Config.fromfile`` semantics without importing mmengine.

It reads the files as mmengine 0.10 does (``_base_`` files relative to the config, bases loaded depth-first, a key
defined by two bases an error, the file executed with ``_base_`` removed, ``_delete_`` replacing a base dict instead
of merging into it) and returns plain dicts. Listing papers reads every config's ``paper`` section this way, so
``bench papers`` and ``bench table`` import no mmengine (a second). Files using what it does not implement
(``{{ ... }}`` substitutions, ``::`` package bases, ``import`` or ``read_base`` lazy configs, ``_base_`` used as a
variable) raise :class:`UnsupportedConfig`; callers then load through mmengine. ``tests/test_configfile.py`` checks
that it gives mmengine's dict for every shipped config.
"""
from __future__ import annotations

import ast
import copy
import os
import types
from functools import lru_cache
from pathlib import Path
from typing import Any

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
DEPRECATION_KEY = "_deprecation_"


class UnsupportedConfig(ValueError):
    """The file uses a config feature only mmengine's reader implements."""


def read_config_dict(path: str | os.PathLike, copy_: bool = True) -> dict[str, Any]:
    """The config's variables after ``_base_`` inheritance, as plain dicts: a fresh copy, or with ``copy_=False``
    the cached dict itself, shared with later calls (the caller must not modify it; saves a deep copy per file)."""
    cfg = _read(os.path.abspath(os.path.expanduser(str(path))))
    return copy.deepcopy(cfg) if copy_ else cfg


class _RemoveBaseAssign(ast.NodeTransformer):
    """Drop ``_base_ = ...`` as mmengine's ``RemoveAssignFromAST`` does."""

    def visit_Assign(self, node: ast.Assign) -> ast.Assign | None:
        target = node.targets[0]
        return None if isinstance(target, ast.Name) and target.id == BASE_KEY else node


@lru_cache(maxsize=None)
def _parsed(filename: str) -> tuple[list[str], types.CodeType]:
    """The file's base paths (absolute) and its code without the ``_base_`` assignment; cached per process."""
    if not filename.endswith(".py"):
        raise UnsupportedConfig(f"{filename}: only python configs are read without mmengine")
    text = Path(filename).read_text(encoding="utf-8")
    if "{{" in text or "read_base" in text:
        raise UnsupportedConfig(f"{filename}: substitutions or read_base need mmengine's reader")
    tree = ast.parse(text, filename=filename)
    bases: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.With)):
            raise UnsupportedConfig(f"{filename}: imports and `with` blocks need mmengine's reader")
        if isinstance(node, ast.Name) and node.id == BASE_KEY and not isinstance(node.ctx, ast.Store):
            raise UnsupportedConfig(f"{filename}: reads {BASE_KEY} as a variable")
    first = next((node for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                  and node.targets[0].id == BASE_KEY), None)
    if first is not None:
        try:
            value = ast.literal_eval(first.value)
        except ValueError as error:
            raise UnsupportedConfig(f"{filename}: {BASE_KEY} is not a literal") from error
        bases = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(base, str) for base in bases):
            raise TypeError(f"{filename}: {BASE_KEY} must be a path or a list of paths, got {value!r}")
        if any("::" in base for base in bases):
            raise UnsupportedConfig(f"{filename}: package bases ('pkg::path') need mmengine's reader")
    code = compile(_RemoveBaseAssign().visit(tree), filename, mode="exec")
    return [os.path.join(os.path.dirname(filename), base) for base in bases], code


@lru_cache(maxsize=None)
def _read(filename: str) -> dict[str, Any]:
    """mmengine's ``Config._file2dict`` for a plain python config. The result shares the bases' cached dicts where
    the file leaves them unchanged (merging copies each dict it changes; the file cannot reach ``_base_``)."""
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"config file {filename} does not exist")
    bases, code = _parsed(filename)
    base_dict: dict[str, Any] = {}
    for base in bases:
        loaded = _read(os.path.abspath(base))
        duplicate = base_dict.keys() & loaded.keys()
        if duplicate:
            raise KeyError(f"Duplicate key is not allowed among bases. Duplicate keys: {duplicate}")
        base_dict.update(loaded)
    namespace: dict[str, Any] = {BASE_KEY: base_dict}
    exec(code, namespace, namespace)  # noqa: S102 - a config file is python, as mmengine executes it
    cfg = {key: value for key, value in namespace.items()
           if key != BASE_KEY and not key.startswith("__")
           and not isinstance(value, (types.FunctionType, types.ModuleType))}
    cfg.pop(DEPRECATION_KEY, None)
    merged = _merge_a_into_b(cfg, base_dict)
    return {key: value for key, value in merged.items() if not key.startswith("__")}


def _merge_a_into_b(a: dict, b: dict) -> dict:
    """mmengine's ``Config._merge_a_into_b``: ``a`` over a shallow copy of ``b``; ``_delete_`` drops ``b``'s dict."""
    b = dict(b)
    for key, value in a.items():
        if isinstance(value, dict):
            if key in b and not value.pop(DELETE_KEY, False):
                if not isinstance(b[key], dict):
                    raise TypeError(f"{key}={value} in child config cannot inherit from base because {key} is a dict "
                                    f"in the child config but is of type {type(b[key])} in base config. You may set "
                                    f"`{DELETE_KEY}=True` to ignore the base config.")
                b[key] = _merge_a_into_b(value, b[key])
            else:
                b[key] = value
        else:
            b[key] = value
    return b
