"""One import namespace: design-card folders install under ``bench``; nothing claims ``datasets``/``methods``."""
import importlib.util
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from helpers import REPO


def declared_packages() -> list[str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def test_every_adapter_and_reader_folder_is_packaged():
    packages = set(declared_packages())
    for top, namespace in (("methods", "bench.methods"), ("datasets", "bench.datasets")):
        for folder in (REPO / top).iterdir():
            if folder.is_dir() and (folder / "__init__.py").is_file():
                assert f"{namespace}.{folder.name}" in packages, f"add {namespace}.{folder.name} to pyproject.toml"


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
