"""The official attribution selections (sklearn train_test_split on source rows) and released index pickles."""
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from pickle_fixture import malicious_pickle

from bench.data import BenchDataset, DatasetLayoutError
from bench.datasets.attribution_splits import official_selection, read_index_file


class Reader(BenchDataset):
    layout = "<root>/idx-train.pkl"
    obtain = "copy the released index files"


def test_selection_equals_the_notebooks_frame_call():
    rng = np.random.default_rng(0)
    labels = rng.choice([1, 3, 7], size=400)
    frame = pd.DataFrame({"label": labels})
    frame = frame[frame["label"].isin([1, 7])]
    for size in (10, 50, len(frame) // 2):
        selected, _ = train_test_split(frame, train_size=size, random_state=42, stratify=frame["label"])
        ours = official_selection(frame.index.to_numpy(), size, frame["label"].to_numpy())
        assert ours.tolist() == selected.index.to_list()
    unstratified, _ = train_test_split(frame, train_size=30, random_state=42)  # CelebA: no stratify
    assert official_selection(frame.index.to_numpy(), 30).tolist() == unstratified.index.to_list()
    other_seed, _ = train_test_split(frame, train_size=30, random_state=43)
    assert official_selection(frame.index.to_numpy(), 30, random_state=43).tolist() == other_seed.index.to_list()


def test_selection_of_everything_keeps_the_source_order_and_bad_sizes_fail():
    rows = np.array([5, 2, 9])
    assert official_selection(rows, 3, np.array([0, 1, 0])).tolist() == [5, 2, 9]
    with pytest.raises(ValueError, match="cannot select 4 samples out of 3: the size must be in 1..3"):
        official_selection(rows, 4)
    with pytest.raises(ValueError, match="cannot select 0 samples"):
        official_selection(rows, 0)


def write(path: Path, content) -> Path:
    with open(path, "wb") as f:
        pickle.dump(content, f)
    return path


def test_index_files_are_validated_against_the_allowed_rows(tmp_path):
    reader, allowed = Reader(), np.arange(10, 20)
    assert read_index_file(reader, write(tmp_path / "a.pkl", [15, 11, 19]), allowed, "rows").tolist() == [15, 11, 19]
    assert read_index_file(reader, write(tmp_path / "b.pkl", np.array([12, 10])), allowed, "rows").tolist() == [12, 10]
    cases = [([15, 3, 4], r"2 of 3 indices are not train rows \(first 3\): the file belongs to another dataset"),
             ([15, 15], "index 15 appears 2 times: an index file lists each sample once"),
             ({"idx": [1]}, "an index file must pickle a non-empty list of ints, found dict"),
             ([], "found a list that is empty or not all ints"),
             ([1.5], "found a list that is empty or not all ints")]
    for content, message in cases:
        with pytest.raises(DatasetLayoutError, match=message) as error:
            read_index_file(reader, write(tmp_path / "c.pkl", content), allowed, "train rows")
        assert str(tmp_path / "c.pkl") in str(error.value) and "copy the released index files" in str(error.value)
    with pytest.raises(DatasetLayoutError, match="Reader: missing index file"):
        read_index_file(reader, tmp_path / "absent.pkl", allowed, "rows")


def test_a_crafted_index_file_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "marker"
    (tmp_path / "idx.pkl").write_bytes(malicious_pickle(marker, wrap=False))
    with pytest.raises(DatasetLayoutError, match="refused to unpickle the global posix.system"):
        read_index_file(Reader(), tmp_path / "idx.pkl", np.arange(3), "rows")
    assert not marker.exists()
