"""Imports flow one way: core (``bench/``) never imports ``bench.methods`` or ``bench.datasets``; dataset readers
never import ``bench.methods``; the shared method packages never import a paper's package.

Every module is parsed (ast), so imports inside functions count too. Registry ``locations`` strings are not imports
(the registries find entries defined in method packages through them, see ``bench/registry.py``).
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from helpers import REPO

#: checkout folder -> the namespace it installs as (pyproject's package-dir)
ROOTS = {"bench": "bench", "methods": "bench.methods", "datasets": "bench.datasets"}
#: method packages other adapters build on; they must not depend on any one paper
SHARED_METHODS = ("classifier", "diffusion", "openmmlab")

#: (file, imported module) -> why it is tolerated for now. Each entry must still occur (the test fails once it is
#: gone, so the list cannot go stale): remove the entry when the import is removed.
ALLOWED: dict[tuple[str, str], str] = {}


class Arrow(NamedTuple):
    """One import statement: where it is and the module it imports."""

    file: str
    line: int
    module: str
    text: str


def module_name(path: Path) -> str:
    """The installed dotted name of a checkout file (``methods/diffact/a.py`` is ``bench.methods.diffact.a``)."""
    relative = path.relative_to(REPO)
    parts = [*ROOTS[relative.parts[0]].split("."), *relative.parts[1:]]
    parts[-1] = parts[-1].removesuffix(".py")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool, file: str = "<string>") -> Iterator[Arrow]:
    """Every import statement of ``source`` (top level or nested), relative ones resolved against ``module``.

    ``from a import b`` yields ``a`` and ``a.b`` (``b`` may be a sub-module: ``from bench import methods``).
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        text = lines[node.lineno - 1].strip()
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Arrow(file, node.lineno, alias.name, text)
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            yield Arrow(file, node.lineno, base, text)
            for alias in node.names:
                yield Arrow(file, node.lineno, f"{base}.{alias.name}", text)


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def forbidden(file: str) -> tuple[str, ...]:
    """The module prefixes a checkout file must not import."""
    top, *rest = Path(file).parts
    if top == "bench":
        return ("bench.methods", "bench.datasets")
    if top == "datasets":
        return ("bench.methods",)
    if top == "methods" and len(rest) > 1 and rest[0] in SHARED_METHODS:
        papers = sorted(p.name for p in (REPO / "methods").iterdir()
                        if (p / "__init__.py").is_file() and p.name not in SHARED_METHODS)
        return tuple(f"bench.methods.{paper}" for paper in papers)
    return ()


def backward_arrows(files: list[Path]) -> list[Arrow]:
    """The imports that point backwards, one per statement and target module."""
    found: dict[tuple[str, int, str], Arrow] = {}
    for path in files:
        file = path.relative_to(REPO).as_posix()
        rules = forbidden(file)
        if not rules:
            continue
        for arrow in imports(path.read_text(), module_name(path), path.name == "__init__.py", file):
            hit = next((prefix for prefix in rules if under(arrow.module, prefix)), None)
            if hit is not None:
                statement = (arrow.file, arrow.line)
                if not any(key[:2] == statement for key in found):  # the statement's own module, not a name in it
                    found[(*statement, arrow.module)] = arrow
    return list(found.values())


def checked_files() -> list[Path]:
    return sorted(p for top in ROOTS for p in (REPO / top).rglob("*.py") if "__pycache__" not in p.parts)


def test_imports_flow_one_way():
    arrows = backward_arrows(checked_files())
    allowed = [a for a in arrows if (a.file, a.module) in ALLOWED]
    bad = [a for a in arrows if (a.file, a.module) not in ALLOWED]
    assert not bad, "backward imports (core -> methods/datasets, datasets -> methods, shared method -> paper):\n" + \
        "\n".join(f"{a.file}:{a.line}: {a.text}" for a in bad)
    stale = set(ALLOWED) - {(a.file, a.module) for a in allowed}
    assert not stale, f"allow-listed imports that no longer exist; remove them from ALLOWED: {sorted(stale)}"


def test_the_checker_sees_nested_relative_and_from_imports(tmp_path):
    """The parser catches each form of a backward import, so the main test can fail."""
    source = ("import os\nfrom bench.registry import METRICS\n\ndef f():\n    from bench.datasets.imagenet import x\n"
              "    import bench.methods.idc\nfrom bench import methods\nfrom ..methods import diffact\n")
    modules = {(a.line, a.module) for a in imports(source, "bench.tasks.thing", False)}
    assert (5, "bench.datasets.imagenet") in modules and (6, "bench.methods.idc") in modules
    assert (7, "bench.methods") in modules and (8, "bench.methods.diffact") in modules
    assert forbidden("bench/tasks/base.py") == ("bench.methods", "bench.datasets")
    assert forbidden("datasets/cifar.py") == ("bench.methods",)
    assert "bench.methods.compress_guidance" in forbidden("methods/diffusion/adapter.py")
    assert forbidden("methods/compress_guidance/adapter.py") == ()  # a paper may use shared packages and datasets
    assert module_name(REPO / "methods" / "diffact" / "__init__.py") == "bench.methods.diffact"
    assert module_name(REPO / "datasets" / "imagenet.py") == "bench.datasets.imagenet"
