"""ArtBench-2/5 reader on a tiny fixture in the official layout: ArtBench-10.csv plus the 256 px image folders."""
import csv
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from sklearn.model_selection import train_test_split

import bench.datasets.artbench as artbench
from bench.data import DatasetLayoutError
from bench.datasets.artbench import STYLES, ArtBench, caption
from bench.registry import DATASETS

HEADER = ["name", "artist", "url", "is_public_domain", "length", "width", "source", "label", "split"]
# per style: (train images, test images); impressionism is outside both subsets
COUNTS = {"post_impressionism": (12, 6), "ukiyo_e": (12, 6), "romanticism": (4, 2), "renaissance": (4, 2),
          "baroque": (4, 2), "impressionism": (3, 2)}
SIDE = 24


@pytest.fixture
def artbench_root(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Rows in a shuffled order (as the official CSV), each image a small JPEG under artbench-10-imagefolder/."""
    rng = np.random.default_rng(0)
    rows = [(f"{style[:4]}-artist_work-{i}-{split}.jpg", style, split)
            for style, (n_train, n_test) in COUNTS.items()
            for split, n in (("train", n_train), ("test", n_test)) for i in range(n)]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    with open(tmp_path / "ArtBench-10.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for name, style, split in rows:
            writer.writerow([name, name.split("_")[0], f"https://www.wikiart.org/{name}", "True", SIDE, SIDE,
                             "wikiart", style, split])
    for name, style, _ in rows:
        folder = tmp_path / "artbench-10-imagefolder" / style
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)).save(folder / name, quality=95)
    return tmp_path, pd.read_csv(tmp_path / "ArtBench-10.csv")


def notebook_selection(frame: pd.DataFrame, styles: tuple[str, ...], split: str, size: int) -> list[int]:
    """D-TRAK ArtBench*/00_EDA.ipynb: filter styles and split, train_test_split(random_state=42, stratify)."""
    subset = frame[frame["label"].isin(styles) & (frame["split"] == split)]
    selected, _ = train_test_split(subset, train_size=size, random_state=42, stratify=subset["label"])
    return selected.index.to_list()


def test_splits_are_the_notebook_selection_of_csv_rows(artbench_root):
    root, frame = artbench_root
    two = ("post_impressionism", "ukiyo_e")
    train = ArtBench(root, split="train", train_size=8, size=SIDE)
    assert train.rows.tolist() == notebook_selection(frame, two, "train", 8)
    assert sorted(train.labels) == [STYLES.index("post_impressionism")] * 4 + [STYLES.index("ukiyo_e")] * 4
    val = ArtBench(root, split="val", val_size=4, size=SIDE)
    assert val.rows.tolist() == notebook_selection(frame, two, "test", 4)
    test = ArtBench(root, split="test", size=SIDE)
    assert test.rows.tolist() == frame.index[frame["label"].isin(two) & (frame["split"] == "test")].tolist()
    five = ArtBench(root, subset="artbench5", split="train", train_size=10, size=SIDE)
    assert five.rows.tolist() == notebook_selection(frame, artbench.SUBSETS["artbench5"], "train", 10)
    assert np.bincount(five.labels, minlength=10)[[1, 4, 6, 7, 9]].tolist() == [1, 3, 1, 1, 4]  # 4:12:4:4:12 of 36
    assert train.sample_id(0) == f"{frame.loc[train.rows[0], 'label']}/{frame.loc[train.rows[0], 'name']}"
    assert train.fingerprint() == ArtBench(root, split="train", train_size=8, size=SIDE).fingerprint()
    assert train.fingerprint() != val.fingerprint()


def test_items_hold_the_pixels_the_target_and_the_training_caption(artbench_root):
    root, frame = artbench_root
    data = ArtBench(root, split="val", val_size=4, size=SIDE)
    item = data[1]
    row = frame.loc[int(data.rows[1])]
    assert item["image"].shape == (3, SIDE, SIDE) and item["image"].dtype == torch.float32
    decoded = np.array(Image.open(root / "artbench-10-imagefolder" / row["label"] / row["name"]).convert("RGB"))
    assert torch.equal((item["image"] * 255).round().to(torch.uint8), torch.from_numpy(decoded).permute(2, 0, 1))
    assert int(item["target"]) == STYLES.index(row["label"])
    assert item["caption"] == caption(row["label"]) and caption("ukiyo_e") == "a ukiyo e painting"
    facts = data.describe()
    assert facts["subset"] == "artbench2" and facts["styles"] == ["post_impressionism", "ukiyo_e"]
    assert facts["preprocessing"] == f"Resize({SIDE}, bilinear) of the shorter side, CenterCrop({SIDE})"


def test_resize_policy_is_the_training_transform_without_the_flip(artbench_root):
    import torchvision.transforms as T

    root, frame = artbench_root
    data = ArtBench(root, split="test", size=16)
    path = data.paths[0]
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(path)
    transform = T.Compose([T.Resize(16, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(16),
                           T.ToTensor()])
    expected = transform(Image.open(path).convert("RGB"))
    assert data[0]["image"].shape == (3, 16, 16) and torch.allclose(data[0]["image"], expected, atol=1e-6)


def test_the_split_folder_layout_gives_the_same_samples(artbench_root):
    root, frame = artbench_root
    before = ArtBench(root, split="train", train_size=8, size=SIDE)
    pixels = before[3]["image"]
    unsplit = root / "artbench-10-imagefolder"
    for name, style, split in frame[["name", "label", "split"]].itertuples(index=False):
        target = root / "artbench-10-imagefolder-split" / split / style
        target.mkdir(parents=True, exist_ok=True)
        shutil.move(unsplit / style / name, target / name)
    shutil.rmtree(unsplit)
    after = ArtBench(root, split="train", train_size=8, size=SIDE)
    assert [after.sample_id(i) for i in range(8)] == [before.sample_id(i) for i in range(8)]
    assert torch.equal(after[3]["image"], pixels)
    assert "artbench-10-imagefolder-split/train/" in after.paths[3].as_posix()


def test_released_index_files_and_reference_heads(artbench_root, tmp_path, monkeypatch):
    root, frame = artbench_root
    rows = frame.index[frame["label"].isin(["ukiyo_e"]) & (frame["split"] == "train")].tolist()[:3]
    with open(tmp_path / "idx-train.pkl", "wb") as f:
        pickle.dump(rows, f)
    assert ArtBench(root, split="train", size=SIDE, index_file=tmp_path / "idx-train.pkl").rows.tolist() == rows
    with pytest.raises(DatasetLayoutError, match="3 of 3 indices are not ArtBench-10.csv rows of test images"):
        ArtBench(root, split="val", size=SIDE, index_file=tmp_path / "idx-train.pkl")
    # on the official CSV (here: the fixture declared official) the selection must start like the released pickle
    monkeypatch.setattr(artbench, "CSV_ROWS", len(frame))
    monkeypatch.setattr(artbench, "VAL_SIZE", 4)
    with pytest.raises(DatasetLayoutError, match=r"the artbench2 val selection starts .* the released index file "
                                                 r"starts \(58519, 45032, 42761"):
        ArtBench(root, split="val", size=SIDE)
    head = tuple(notebook_selection(frame, ("post_impressionism", "ukiyo_e"), "test", 4))
    monkeypatch.setitem(artbench.REFERENCE_HEADS, ("artbench2", "val"), head)
    assert tuple(ArtBench(root, split="val", size=SIDE).rows.tolist()) == head


def test_errors_name_the_file_and_where_to_get_it(artbench_root):
    root, frame = artbench_root
    with pytest.raises(DatasetLayoutError, match="the train split selects 5000 of the 24 ArtBench-10.csv rows"):
        ArtBench(root, split="train")
    first = frame.loc[frame.index[frame["label"].eq("ukiyo_e") & frame["split"].eq("test")][0]]
    (root / "artbench-10-imagefolder" / first["label"] / first["name"]).unlink()
    with pytest.raises(DatasetLayoutError, match=r"missing image \(1 of the 12 images of the artbench2 test split"):
        ArtBench(root, split="test", size=SIDE)
    shutil.rmtree(root / "artbench-10-imagefolder")
    with pytest.raises(DatasetLayoutError, match="neither artbench-10-imagefolder/ nor artbench-10-imagefolder-split/"):
        ArtBench(root, split="test", size=SIDE)
    text = (root / "ArtBench-10.csv").read_text()
    (root / "ArtBench-10.csv").write_text(text.replace("ukiyo_e", "ukiyoe", 1))
    with pytest.raises(DatasetLayoutError, match="column 'label' of row .* is 'ukiyoe', expected one of"):
        ArtBench(root, split="test", size=SIDE)
    (root / "ArtBench-10.csv").write_text(text.replace(",split", ",partition", 1))
    with pytest.raises(DatasetLayoutError, match=r"the CSV needs the columns \['name', 'label', 'split'\]"):
        ArtBench(root, split="test", size=SIDE)
    (root / "ArtBench-10.csv").unlink()
    with pytest.raises(DatasetLayoutError) as error:
        ArtBench(root)
    message = str(error.value)
    assert message.startswith("ArtBench: missing metadata file") and str(root / "ArtBench-10.csv") in message
    assert "artbench.eecs.berkeley.edu/files/ArtBench-10.csv" in message and "artbench-10-imagefolder.tar" in message
    with pytest.raises(ValueError, match=r"subset must be one of \('artbench2', 'artbench5'\), got 'artbench10'"):
        ArtBench(root, subset="artbench10")
    with pytest.raises(ValueError, match="split must be one of"):
        ArtBench(root, split="gen")
    assert DATASETS.get("ArtBench") is ArtBench


def test_an_unparsable_csv_names_the_line(artbench_root):
    root = artbench_root[0]
    path = root / "ArtBench-10.csv"
    path.write_text(path.read_text() + 'x.jpg,"' + "y" * 140000 + "\n")  # a quote never closed
    with pytest.raises(DatasetLayoutError, match=r"cannot parse the CSV at line \d+ \(field larger than field limit"):
        ArtBench(root, split="test", size=SIDE)
