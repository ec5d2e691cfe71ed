"""One import namespace: design-card folders install under ``bench``; nothing claims ``datasets``/``methods``."""
import ast
import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

from helpers import REPO


def discovered_packages() -> list[str]:
    """The packages setup.py hands to setuptools: its discovery through pyproject's ``package-dir``."""
    spec = importlib.util.spec_from_file_location("bench_setup", REPO / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.mapped_packages(module.package_dir())


def test_every_adapter_and_reader_folder_is_packaged():
    packages = set(discovered_packages())
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    assert "packages" not in tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"], \
        "packages are discovered by setup.py; a hand-kept list in pyproject.toml would override nothing but drift"
    for namespace, folder in mapping.items():
        assert namespace in packages
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            if "__pycache__" not in relative:
                assert ".".join((namespace, *relative)) in packages, f"{init.parent} is not packaged"
    import bench.methods

    # what the runtime discovery imports (every paper's folder) is what the wheel ships, and vice versa
    shipped = {p.split(".")[2] for p in packages if p.startswith("bench.methods.") and p.count(".") == 2}
    assert set(bench.methods.PACKAGES) == shipped and {"classifier", "diffusion", "compress_guidance"} <= shipped
    assert {"bench.formats", "bench.metrics", "bench.tasks.robustness", "bench.tasks.generation.extractors"} <= packages


def installed_record() -> list[str]:
    """Files of the installed bench distribution (its .dist-info RECORD, not a source tree's egg-info)."""
    for dist in metadata.distributions(name="bench"):
        if str(getattr(dist, "_path", "")).endswith(".dist-info"):
            return [str(f) for f in dist.files or []]
    pytest.skip("bench is not installed from a wheel or editable wheel")


def test_installed_distribution_has_only_the_bench_namespace():
    top_levels = {Path(f).parts[0] for f in installed_record()}
    assert "datasets" not in top_levels and "methods" not in top_levels, top_levels
    import bench.datasets
    import bench.methods

    assert Path(bench.methods.__file__).parent.name == "methods"
    assert Path(bench.datasets.__file__).parent.name == "datasets"


def provided_top_levels(record: list[str], read: Callable[[str], str]) -> dict[str, str]:
    """Top-level import names a distribution's RECORD provides, each with the file that provides it: a package or
    module at the wheel's root, a key of an editable finder's ``MAPPING``, or a folder a path ``.pth`` adds."""
    provided: dict[str, str] = {}
    for entry in record:
        top = Path(entry).parts[0]
        if entry.endswith(".pth"):
            for line in read(entry).splitlines():
                if line.strip() and not line.startswith(("#", "import ")) and Path(line.strip()).is_dir():
                    for child in Path(line.strip()).iterdir():
                        if child.suffix == ".py" or (child / "__init__.py").is_file():
                            provided.setdefault(child.name.removesuffix(".py"), f"{entry} -> {child}")
        elif Path(entry).name.startswith("__editable__") and entry.endswith("_finder.py"):
            for node in ast.parse(read(entry)).body:
                targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
                if any(isinstance(t, ast.Name) and t.id == "MAPPING" for t in targets):
                    for name in ast.literal_eval(node.value):
                        provided.setdefault(name.split(".")[0], entry)
        elif top not in ("..", "__pycache__") and not top.endswith((".dist-info", ".data")):
            provided.setdefault(top.removesuffix(".py"), entry)
    return provided


def leaking_specs(names: tuple[str, ...], find: Callable[[str], object], roots: list[Path]) -> dict[str, str]:
    """The names whose import spec resolves inside one of ``roots`` (the checkout, the installed bench)."""
    leaks = {}
    for name in names:
        spec = find(name)
        places = [getattr(spec, "origin", None), *(getattr(spec, "submodule_search_locations", None) or [])]
        for place in filter(None, places):
            if place not in ("namespace", "built-in", "frozen") and any(
                    Path(place).resolve().is_relative_to(root.resolve()) for root in roots):
                leaks.setdefault(name, str(place))
    return leaks


def test_leak_checks_catch_a_stray_top_level(tmp_path: Path):
    files = {"bench/__init__.py": "", "datasets/__init__.py": "", "tool.py": "", "bench-0.1.dist-info/RECORD": "",
             "__editable___bench_0_1_0_finder.py": "MAPPING: dict[str, str] = {'bench': '/x', 'methods': '/y'}",
             "__editable__.bench-0.1.0.pth": "import __editable___bench_0_1_0_finder",
             "legacy.pth": str(REPO)}
    provided = provided_top_levels(list(files), files.__getitem__)
    assert {"bench", "datasets", "tool", "methods"} <= set(provided) and "bench-0.1" not in provided
    assert provided["methods"].endswith("_finder.py") and provided["datasets"] == "datasets/__init__.py"
    assert "datasets" in provided_top_levels(["legacy.pth"], files.__getitem__)  # the checkout root on sys.path
    (tmp_path / "methods").mkdir()
    spec = importlib.util.spec_from_file_location("methods", tmp_path / "methods" / "__init__.py")
    found = {"methods": spec, "datasets": None}.get
    assert leaking_specs(("methods", "datasets"), found, [tmp_path]) == {"methods": spec.origin}
    assert leaking_specs(("methods", "datasets"), found, [tmp_path / "elsewhere"]) == {}


def test_no_top_level_datasets_or_methods_module_from_bench():
    """Neither the installed bench distribution nor this checkout may put ``datasets``/``methods`` on sys.path."""
    dist = next(d for d in metadata.distributions(name="bench") if str(getattr(d, "_path", "")).endswith(".dist-info"))
    record = [str(f) for f in dist.files or []]
    provided = provided_top_levels(record, lambda entry: Path(dist.locate_file(entry)).read_text(encoding="utf-8"))
    assert "bench" in provided, provided
    assert {k: v for k, v in provided.items() if k in ("datasets", "methods")} == {}
    roots = [REPO, Path(dist.locate_file("bench"))]
    assert leaking_specs(("datasets", "methods"), importlib.util.find_spec, roots) == {}


@pytest.mark.slow
def test_regular_wheel_contents(tmp_path: Path):
    """Build a wheel from a copy of the tracked tree with setuptools' PEP 517 hook (uv venvs carry no pip)."""
    import shutil

    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True)
    source = tmp_path / "src"
    for name in tracked.stdout.splitlines():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    subprocess.run([sys.executable, "-c", f"import setuptools.build_meta as b; b.build_wheel({str(tmp_path)!r})"],
                   cwd=source, check=True, capture_output=True)
    wheel = next(tmp_path.glob("bench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"bench", f"{wheel.name.split('-py3')[0]}.dist-info"}, tops
    assert "bench/methods/classifier/timm_classifier.py" in names
    assert "bench/configs/demo/harness_digits.py" in names
    assert "bench/configs/_base_/tasks/classification.py" in names
    assert "bench/_reported/diffact.json" in names
    for package in discovered_packages():  # every discovered package (but the data-only _reported) is in the wheel
        if package != "bench._reported":
            assert package.replace(".", "/") + "/__init__.py" in names, package
