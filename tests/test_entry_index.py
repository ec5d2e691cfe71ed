"""The source index behind the registries' per-entry imports: complete for the shipped packages, and lazy."""
import ast
import subprocess
import sys

import pytest

from bench.entry_index import EntryIndex, _scan, entry_index
from bench.registry import DATASETS, METHODS, METRICS, UnknownNameError, import_submodules
from helpers import REPO


def scan(text: str) -> EntryIndex:
    index = EntryIndex()
    _scan(ast.parse(text), "pkg.mod", index)
    return index


def test_scan_reads_decorators_calls_and_lazy_entries():
    index = scan("from bench.registry import METHODS, SCHEDULERS as S\n"
                 "from other import registry\n"
                 "@METHODS.register_module()\nclass A: ...\n"
                 "@METHODS.register_module(name='Bee')\nclass B: ...\n"
                 "@METHODS.register_module(name=['C1', 'C2'])\ndef c(): ...\n"
                 "S.register_lazy('Sched', 'pkg.sched:Sched')\n"
                 "registry.register_module(name='NotOurs', module=A)\n")
    assert index.entries == {"METHODS": {"A": "pkg.mod", "Bee": "pkg.mod", "C1": "pkg.mod", "C2": "pkg.mod"},
                             "SCHEDULERS": {"Sched": "pkg.mod"}}
    assert index.opaque == {}


def test_registrations_the_scan_cannot_read_mark_the_module_opaque():
    index = scan("from bench.registry import DATASETS\nNAMES = ['x']\n"
                 "for n in NAMES:\n    DATASETS.register_module(name=n, module=object)\n"
                 "def later():\n    @DATASETS.register_module()\n    class Inner: ...\n")
    assert index.entries == {} and index.opaque == {"DATASETS": ["pkg.mod"]}


def test_index_lists_every_entry_the_packages_register():
    """Importing every adapter and reader registers exactly the names the scan found, from the modules it named."""
    methods, datasets = entry_index("bench.methods"), entry_index("bench.datasets")
    assert not methods.opaque and not datasets.opaque
    import bench.datasets
    import bench.methods

    import_submodules("bench.methods", bench.methods.__path__, packages_only=True)  # each paper's __init__
    import_submodules("bench.datasets", bench.datasets.__path__)
    for registry, index in ((METHODS, methods), (DATASETS, datasets), (METRICS, methods)):
        registered = {name: obj.__module__ for name, obj in registry.module_dict.items()
                      if obj.__module__.startswith(("bench.methods", "bench.datasets"))}
        indexed = index.entries[registry._attribute()]
        assert set(registered) == set(indexed)
        assert registered == indexed
    assert {"TimmClassifier", "Trident", "DiffAct"} <= set(methods.entries["METHODS"])
    assert len(datasets.entries["DATASETS"]) >= 30


LAZY_BUILD = """
import sys
from bench.config import load_config
from bench.registry import DATASETS, METHODS, UnknownNameError
from bench.upstream import section
cfg = load_config("demo/harness_digits")
METHODS.build(section(cfg, "method")), DATASETS.build(section(cfg, "dataset"))
try:
    METHODS.get("TimmClasifier")
except UnknownNameError as error:
    assert "Did you mean 'TimmClassifier'" in str(error) and "Trident" in str(error), error
heavy = ("diffusers", "open_clip", "segment_anything", "bench.methods.trident", "bench.methods.diffact",
         "bench.datasets.coco", "bench.methods.compress_guidance")
print(sorted(m for m in heavy if m in sys.modules))
"""


def test_building_the_digits_demo_imports_only_its_modules():
    out = subprocess.run([sys.executable, "-c", LAZY_BUILD], capture_output=True, text=True, cwd=REPO.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_unknown_names_list_indexed_entries_without_importing_them():
    with pytest.raises(UnknownNameError, match=r"Did you mean 'Digits'.*Known dataset: .*CelebDFv2"):
        DATASETS.get("Digit")
