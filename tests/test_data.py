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


class BrokenItems(TinyFolder):
    """Item 1 is a corrupt file: ``__getitem__`` raises the reader's layout error, as readers do mid-run."""

    def __getitem__(self, index: int) -> dict:
        if index == 1:
            with self.reading(self.root / "images" / "b.png", "a PNG image"):
                raise OSError("image file is truncated (3 bytes not processed)")
        return {"index": index}


def test_reading_names_the_file_and_survives_dataloader_workers(tmp_path: Path):
    import pickle

    from torch.utils.data import DataLoader

    (tmp_path / "labels.txt").write_text("a 1\nb 2\n")
    data = BrokenItems(str(tmp_path))
    with pytest.raises(DatasetLayoutError) as direct:
        data[1]
    expected = (f"BrokenItems: cannot read a PNG image (OSError: image file is truncated (3 bytes not processed)); "
                f"the file is corrupt, truncated or not in the official format: replace it with the official file\n"
                f"  path: {tmp_path / 'images' / 'b.png'}\n")
    assert str(direct.value).startswith(expected)
    assert str(pickle.loads(pickle.dumps(direct.value))) == str(direct.value)
    with pytest.raises(DatasetLayoutError) as worker:  # torch rebuilds the class from the worker's traceback text
        list(DataLoader(data, batch_size=1, num_workers=1))
    message = str(worker.value)
    assert message.startswith(expected) and message.endswith("(raised in DataLoader worker process 0)")
    assert "Traceback" not in message and isinstance(worker.value, FileNotFoundError)


def test_hidden_entries_are_not_data(tmp_path: Path):
    from bench.data import is_hidden, visible

    for name in ("a.png", ".DS_Store", "._a.png", ".ipynb_checkpoints/a-checkpoint.png", "sub/b.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert [is_hidden(tmp_path / n) for n in ("a.png", ".DS_Store", "._a.png")] == [False, True, True]
    found = visible(sorted(tmp_path.rglob("*.png")), tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.png", "sub/b.png"]
