"""The light config reader gives mmengine's dict for every shipped config, and hands other files to mmengine."""
from pathlib import Path

import pytest
from mmengine.config import Config

from bench.config import configs_root, paper_section, to_plain
from bench.configfile import UnsupportedConfig, read_config_dict


def shipped() -> list[Path]:
    return sorted(p for p in configs_root().rglob("*.py") if p.name != "__init__.py")


def test_every_shipped_config_reads_as_mmengine_reads_it():
    paths = shipped()
    assert len(paths) > 250  # leaves and their _base_ files
    for path in paths:
        assert to_plain(read_config_dict(path)) == to_plain(Config.fromfile(str(path)).to_dict()), path


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_delete_replaces_and_plain_dicts_merge(tmp_path):
    write(tmp_path, "_base_/a.py", "method = dict(type='A', x=1, inner=dict(p=1, q=2))\npaper = dict(slug='s')\n")
    write(tmp_path, "_base_/b.py", "dataset = dict(type='D')\n")
    child = write(tmp_path, "child.py", "_base_ = ['_base_/a.py', '_base_/b.py']\n"
                                        "method = dict(x=2, inner=dict(_delete_=True, r=3))\nlimit = 4\n"
                                        "def helper():\n    return 1\n")
    expected = {"method": {"type": "A", "x": 2, "inner": {"r": 3}}, "paper": {"slug": "s"},
                "dataset": {"type": "D"}, "limit": 4}
    assert read_config_dict(child) == expected == to_plain(Config.fromfile(str(child)).to_dict())
    read_config_dict(child)["method"]["x"] = 99  # callers get copies: the cache stays intact
    assert read_config_dict(child)["method"]["x"] == 2


def test_bases_defining_one_key_twice_are_an_error(tmp_path):
    write(tmp_path, "a.py", "method = dict(type='A')\n")
    write(tmp_path, "b.py", "method = dict(type='B')\n")
    with pytest.raises(KeyError, match="Duplicate key"):
        read_config_dict(write(tmp_path, "child.py", "_base_ = ['a.py', 'b.py']\n"))


@pytest.mark.parametrize("text", [
    "import os\nmethod = dict(type=os.sep)\n",
    "_base_ = ['a.py']\nmethod = dict(type=_base_.method.type)\n",
    "method = dict(root='{{ fileDirname }}')\n",
    "_base_ = 'mmdet::faster_rcnn.py'\n",
])
def test_features_only_mmengine_implements_are_handed_back(tmp_path, text):
    write(tmp_path, "a.py", "method = dict(type='A')\n")
    with pytest.raises(UnsupportedConfig):
        read_config_dict(write(tmp_path, "child.py", text))


def test_paper_section_falls_back_to_mmengine_for_what_it_cannot_read(tmp_path):
    path = write(tmp_path, "uses_vars.py", "dataset = dict(type='D')\nmethod = dict(type='M', k=3)\n"
                                           "task = dict(type='classification')\n"
                                           "paper = dict(slug='s', table='t', metrics=dict(acc='accuracy'), "
                                           "setting=dict(k='{method.k}', file='{{ fileBasenameNoExtension }}'))\n")
    with pytest.raises(UnsupportedConfig):
        read_config_dict(path)
    assert paper_section(path)["setting"] == {"k": "3", "file": "uses_vars"}
