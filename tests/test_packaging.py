"""One import namespace: design-card folders install under ``bench``; nothing claims ``datasets``/``methods``."""
import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from conftest import REPO


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


def test_no_top_level_datasets_or_methods_module_from_bench():
    for name in ("datasets", "methods"):
        spec = importlib.util.find_spec(name)
        assert spec is None or "site-packages/bench" not in str(spec.origin), spec


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
