"""Package discovery through pyproject's ``package-dir`` mapping (everything else is in pyproject.toml).

``packages.find`` cannot see through package-dir, and a hand-kept list would make every new paper edit it; here
each mapped folder is searched with ``find_packages`` and its packages are named under the mapped namespace
(``methods/diffact`` installs as ``bench.methods.diffact``). ``tests/test_packaging.py`` checks the result.
"""
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.config.pyprojecttoml import read_configuration

ROOT = Path(__file__).resolve().parent


def mapped_packages(package_dir: dict[str, str], root: Path = ROOT) -> list[str]:
    """Each mapped namespace and every package (folder with ``__init__.py``) below its folder, namespaced."""
    packages = []
    for namespace, folder in package_dir.items():
        packages.append(namespace)
        packages += [f"{namespace}.{name}" for name in find_packages(str(root / folder))]
    return sorted(set(packages))


def package_dir() -> dict[str, str]:
    """pyproject.toml's ``[tool.setuptools] package-dir``."""
    return read_configuration(ROOT / "pyproject.toml", expand=False)["tool"]["setuptools"]["package-dir"]


if __name__ == "__main__":
    setup(packages=mapped_packages(package_dir()))
