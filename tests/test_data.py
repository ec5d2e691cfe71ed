from pathlib import Path

import pytest

from bench.data import BenchDataset, DatasetLayoutError


class TinyFolder(BenchDataset):
    layout = """
    <root>/
      images/<id>.png
      labels.txt        one '<id> <label>' per line
    """
    obtain = "download from the official site and unpack to <root>"

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        lines = self.require(self.root / "labels.txt", "label file").read_text().split("\n")
        self.items = [line.split() for line in lines if line]

    def __len__(self) -> int:
        return len(self.items)

    def sample_id(self, index: int) -> str:
        return self.items[index][0]


def test_missing_data_names_path_layout_and_fix(tmp_path: Path):
    with pytest.raises(DatasetLayoutError) as info:
        TinyFolder(str(tmp_path / "nowhere"))
    message = str(info.value)
    assert "missing label file" in message
    assert str(tmp_path / "nowhere" / "labels.txt") in message
    assert "labels.txt        one '<id> <label>' per line" in message
    assert "how to get it: download from the official site" in message


def test_default_fingerprint_follows_the_sample_ids(tmp_path: Path):
    (tmp_path / "labels.txt").write_text("a 1\nb 2\n")
    first = TinyFolder(str(tmp_path)).fingerprint()
    (tmp_path / "labels.txt").write_text("a 1\nc 2\n")
    assert TinyFolder(str(tmp_path)).fingerprint() != first
