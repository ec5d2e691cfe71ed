"""ImageNet val and ImageNet-LT readers on tiny JPEG fixtures in the official layouts."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import DatasetLayoutError
from bench.datasets.imagenet import ImageNetLT, ImageNetVal, class_folder_problem, imagenet1k_wnids, known_classes
from bench.formats.oltr import SHOT_BUCKETS, buckets_from_counts, read_split_file, shot_buckets
from bench.registry import DATASETS

WNIDS = ("n01440764", "n01443537", "n01484850")  # sorted: class indices 0, 1, 2
# (val file number, wnid); files are deliberately not grouped by class in number order
VAL_IMAGES = ((1, WNIDS[2]), (2, WNIDS[0]), (3, WNIDS[1]), (4, WNIDS[0]), (5, WNIDS[2]), (6, WNIDS[1]), (7, WNIDS[0]))
SMALL = {"resize": 10, "crop_size": 8}
VAL = {**SMALL, "classes": WNIDS}  # the fixture tree holds three of the 1000 classes


def val_name(number: int) -> str:
    return f"ILSVRC2012_val_{number:08d}.JPEG"


def write_jpeg(path: Path, seed: int, size: tuple[int, int] = (20, 15), mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], channels), dtype=np.uint8)
    Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode).save(path, "JPEG", quality=90)


@pytest.fixture
def imagefolder_root(tmp_path: Path) -> Path:
    root = tmp_path / "folder"
    for number, wnid in VAL_IMAGES:
        write_jpeg(root / "val" / wnid / val_name(number), seed=number, mode="L" if number == 3 else "RGB")
    return root


@pytest.fixture
def flat_root(tmp_path: Path, imagefolder_root: Path) -> Path:
    """The same JPEG files, flat, with mmpretrain's meta/val.txt (sorted-wnid labels)."""
    root = tmp_path / "flat"
    (root / "val").mkdir(parents=True)
    (root / "meta").mkdir()
    lines = []
    for number, wnid in VAL_IMAGES:
        (root / "val" / val_name(number)).write_bytes((imagefolder_root / "val" / wnid / val_name(number)).read_bytes())
        lines.append(f"{val_name(number)} {WNIDS.index(wnid)}")
    (root / "meta" / "val.txt").write_text("\n".join(lines) + "\n")
    return root


def test_imagefolder_labels_are_sorted_wnid_positions_and_ids_are_stems(imagefolder_root):
    data = ImageNetVal(imagefolder_root, **VAL)
    assert len(data) == 7 and data.image_layout == "imagefolder"
    assert [data.sample_id(i) for i in range(7)] == [f"ILSVRC2012_val_{n:08d}" for n in range(1, 8)]
    assert data.labels == [WNIDS.index(wnid) for _, wnid in VAL_IMAGES] == [2, 0, 1, 0, 2, 1, 0]
    facts = data.describe()
    assert facts["num_classes"] == 3 and facts["layout"] == "imagefolder" and facts["source_size"] == 7


def test_flat_and_imagefolder_layouts_agree(imagefolder_root, flat_root):
    for split in ("all", "calib", "test"):
        folder = ImageNetVal(imagefolder_root, split=split, calib_size=4, **VAL)
        flat = ImageNetVal(flat_root, split=split, calib_size=4, **VAL)
        assert flat.image_layout == "flat"
        assert folder.ids == flat.ids and folder.labels == flat.labels
    assert torch.equal(folder[1]["image"], flat[1]["image"]) and int(folder[1]["target"]) == int(flat[1]["target"])
    assert folder.fingerprint() == ImageNetVal(flat_root, split="test", calib_size=4, **VAL).fingerprint()


def test_calib_test_split_is_a_seeded_disjoint_partition(imagefolder_root):
    calib = ImageNetVal(imagefolder_root, split="calib", calib_size=4, split_seed=3, **VAL)
    test = ImageNetVal(imagefolder_root, split="test", calib_size=4, split_seed=3, **VAL)
    assert (len(calib), len(test)) == (4, 3)
    assert not set(calib.ids) & set(test.ids) and len(set(calib.ids) | set(test.ids)) == 7
    order = np.random.default_rng(3).permutation(7)
    assert calib.ids == [f"ILSVRC2012_val_{i + 1:08d}" for i in order[:4]]
    assert test.ids == [f"ILSVRC2012_val_{i + 1:08d}" for i in order[4:]]
    assert ImageNetVal(imagefolder_root, split="calib", calib_size=4, split_seed=4, **VAL).ids != calib.ids
    facts = calib.describe()
    assert (facts["split_seed"], facts["calib_size"], facts["test_size"], facts["num_samples"]) == (3, 4, 3, 4)
    with pytest.raises(ValueError, match="calib_size 8"):
        ImageNetVal(imagefolder_root, classes=WNIDS, split="calib", calib_size=8)


def test_preprocessing_resizes_shorter_side_then_center_crops(imagefolder_root):
    path = imagefolder_root / "val" / WNIDS[0] / val_name(2)
    item = ImageNetVal(imagefolder_root, classes=WNIDS, resize=10, crop_size=8)[1]
    assert item["image"].shape == (3, 8, 8) and item["image"].dtype == torch.float32
    assert item["target"].dtype == torch.int64 and int(item["target"]) == 0
    # 20x15 -> shorter side 10 -> 13x10 (int(10 * 20 / 15)); crop 8: top round(1.0) = 1, left round(2.5) = 2
    with Image.open(path) as image:
        expected = np.array(image.convert("RGB").resize((13, 10), Image.BILINEAR))[1:9, 2:10]
    assert torch.equal((item["image"] * 255).round().to(torch.uint8), torch.from_numpy(expected).permute(2, 0, 1))
    grey = ImageNetVal(imagefolder_root, **VAL)[2]["image"]  # file 3 is a greyscale JPEG
    assert grey.shape == (3, 8, 8) and torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    assert ImageNetVal(imagefolder_root, classes=WNIDS)[0]["image"].shape == (3, 224, 224)


def test_fingerprint_is_stable_and_sensitive(imagefolder_root):
    first = ImageNetVal(imagefolder_root, **VAL).fingerprint()
    assert first == ImageNetVal(imagefolder_root, **VAL).fingerprint()
    assert first != ImageNetVal(imagefolder_root, split="calib", calib_size=4, **VAL).fingerprint()
    write_jpeg(imagefolder_root / "val" / WNIDS[0] / val_name(2), seed=2, size=(24, 15))  # file size changes
    assert ImageNetVal(imagefolder_root, **VAL).fingerprint() != first


def test_layout_errors_name_the_missing_path(tmp_path, flat_root):
    with pytest.raises(DatasetLayoutError) as error:
        ImageNetVal(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere" / "val") in str(error.value) and "meta/val.txt" in str(error.value)
    (flat_root / "val" / val_name(5)).unlink()
    with pytest.raises(DatasetLayoutError, match=val_name(5)):
        ImageNetVal(flat_root)
    (flat_root / "meta" / "val.txt").unlink()
    with pytest.raises(DatasetLayoutError, match="labels file for the flat layout"):
        ImageNetVal(flat_root)
    (tmp_path / "empty" / "val").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="neither wnid folders nor flat images"):
        ImageNetVal(tmp_path / "empty")


def test_num_classes_must_match_the_class_list(imagefolder_root):
    assert ImageNetVal(imagefolder_root, num_classes=3, **VAL).num_classes == 3
    with pytest.raises(ValueError, match="num_classes=1000 but the class list has 3 wnids"):
        ImageNetVal(imagefolder_root, num_classes=1000, **VAL)


def test_known_list_is_timms_sorted_imagenet1k_wnids():
    wnids = imagenet1k_wnids()
    assert len(wnids) == 1000 == len(set(wnids)) and list(wnids) == sorted(wnids)
    assert wnids[:3] == WNIDS and wnids[-1] == "n15075141"
    assert known_classes(list(reversed(WNIDS))) == WNIDS  # a subset is labelled in sorted order, as ImageFolder does
    with pytest.raises(ValueError, match="not ImageNet-1k wnids: n99999999"):
        known_classes([WNIDS[0], "n99999999"])
    with pytest.raises(ValueError, match=f"repeated: {WNIDS[0]}"):
        known_classes([WNIDS[0], WNIDS[0]])


def test_class_folder_problem_names_missing_and_unknown_folders():
    wnids = imagenet1k_wnids()
    assert class_folder_problem(list(wnids), wnids) is None
    problem = class_folder_problem([w for w in wnids if w != "n01443537"], wnids)
    assert problem.startswith("1 of the 1000 expected wnid folders missing: n01443537. Expected exactly one folder")
    assert "restore missing classes" in problem and "classes=[...]" in problem
    problem = class_folder_problem([*wnids, "ipynb_checkpoints", "extra"], wnids)
    assert problem.startswith("2 folder(s) that are not expected class wnids: extra, ipynb_checkpoints.")
    problem = class_folder_problem(list(wnids[10:]), wnids)
    assert f"10 of the 1000 expected wnid folders missing: {', '.join(wnids[:5])} and 5 more" in problem


def test_full_tree_ignores_hidden_entries_and_refuses_a_missing_wnid(tmp_path):
    """A complete 1000-folder tree (empty image files: construction reads names and sizes only) with a notebook
    checkpoint folder, a .DS_Store and an AppleDouble file reads every label right; one folder fewer is refused."""
    wnids, val = imagenet1k_wnids(), tmp_path / "val"
    for number, wnid in enumerate(wnids, start=1):
        (val / wnid).mkdir(parents=True)
        (val / wnid / val_name(number)).touch()
    (val / ".ipynb_checkpoints").mkdir()
    (val / ".ipynb_checkpoints" / val_name(5000)).touch()
    (val / ".DS_Store").touch()
    (val / wnids[0] / f"._{val_name(1)}").touch()
    data = ImageNetVal(tmp_path)
    assert len(data) == 1000 and data.num_classes == 1000 and data.describe()["classes"] == "imagenet1k"
    assert data.labels == list(range(1000)) and data.ids[0] == "ILSVRC2012_val_00000001"
    (val / wnids[1] / val_name(2)).unlink()
    (val / wnids[1]).rmdir()
    with pytest.raises(DatasetLayoutError) as error:
        ImageNetVal(tmp_path)
    message = str(error.value)
    assert "1 of the 1000 expected wnid folders missing: n01443537" in message and str(val) in message
    assert ".ipynb_checkpoints" not in message and "ILSVRC2012_img_val.tar" in message


def test_subset_refuses_a_stray_folder_and_ignores_hidden_ones(imagefolder_root):
    (imagefolder_root / "val" / ".ipynb_checkpoints").mkdir()
    assert ImageNetVal(imagefolder_root, **VAL).labels == [2, 0, 1, 0, 2, 1, 0]
    write_jpeg(imagefolder_root / "val" / "n99999999" / val_name(9), seed=9)
    with pytest.raises(DatasetLayoutError, match="1 folder\\(s\\) that are not expected class wnids: n99999999"):
        ImageNetVal(imagefolder_root, **VAL)
    with pytest.raises(DatasetLayoutError, match="997 of the 1000 expected wnid folders missing"):
        ImageNetVal(imagefolder_root)  # three folders are not ImageNet-1k without classes=


def test_flat_labels_outside_the_class_list_are_refused(flat_root):
    labels = flat_root / "meta" / "val.txt"
    labels.write_text(labels.read_text().replace(f"{val_name(1)} 2", f"{val_name(1)} 3"))
    assert ImageNetVal(flat_root, **SMALL).labels[0] == 3  # fine among the 1000 classes
    with pytest.raises(DatasetLayoutError, match="line 1 has label 3, outside 0...2"):
        ImageNetVal(flat_root, **VAL)


def test_corrupt_image_names_the_file(imagefolder_root):
    path = imagefolder_root / "val" / WNIDS[0] / val_name(2)
    path.write_bytes(path.read_bytes()[:40])  # truncated JPEG
    data = ImageNetVal(imagefolder_root, **VAL)
    with pytest.raises(DatasetLayoutError) as error:
        data[1]
    assert str(path) in str(error.value) and "cannot read a JPEG or PNG image" in str(error.value)
    path.write_bytes(b"not an image")
    with pytest.raises(DatasetLayoutError, match="UnidentifiedImageError"):
        data[1]


@pytest.fixture
def lt_root(tmp_path: Path) -> Path:
    """ImageNet root with train/ and val/ wnid folders; OLTR split files in <tmp>/splits."""
    root, splits = tmp_path / "imagenet", tmp_path / "splits"
    splits.mkdir()
    lines = {"train": [], "val": [], "test": []}
    for label, wnid in enumerate(WNIDS[:2]):
        for k in range(3 - label):
            lines["train"].append(f"train/{wnid}/{wnid}_{1000 + k}.JPEG {label}")
        lines["val"].append(f"train/{wnid}/{wnid}_{2000 + label}.JPEG {label}")
        lines["test"].append(f"val/{wnid}/{val_name(10 + label)} {label}")
    for split, split_lines in lines.items():
        for number, line in enumerate(split_lines):
            write_jpeg(root / line.split()[0], seed=100 + number)
        (splits / f"ImageNet_LT_{split}.txt").write_text("\n".join(split_lines) + "\n")
    return tmp_path


def test_imagenet_lt_reads_split_files(lt_root):
    root, splits = lt_root / "imagenet", lt_root / "splits"
    sizes = {split: len(ImageNetLT(root, split=split, split_dir=splits, **SMALL)) for split in ("train", "val", "test")}
    assert sizes == {"train": 5, "val": 2, "test": 2}
    test = ImageNetLT(root, split="test", split_dir=splits, **SMALL)
    assert [test.sample_id(i) for i in range(2)] == [f"val/{WNIDS[0]}/{val_name(10)}", f"val/{WNIDS[1]}/{val_name(11)}"]
    assert [int(test[i]["target"]) for i in range(2)] == [0, 1] and set(test[0]) == {"image", "target"}
    assert test[0]["image"].shape == (3, 8, 8)
    assert test.fingerprint() == ImageNetLT(root, split="test", split_dir=splits, **SMALL).fingerprint()
    assert test.fingerprint() != ImageNetLT(root, split="val", split_dir=splits, **SMALL).fingerprint()
    assert test.describe()["num_classes"] == 2


def test_imagenet_lt_errors(lt_root):
    root, splits = lt_root / "imagenet", lt_root / "splits"
    with pytest.raises(DatasetLayoutError, match="ImageNet_LT_test.txt"):
        ImageNetLT(root)  # split files default to the root
    (root / "train" / WNIDS[1] / f"{WNIDS[1]}_1001.JPEG").unlink()
    with pytest.raises(DatasetLayoutError, match=f"{WNIDS[1]}_1001.JPEG"):
        ImageNetLT(root, split="train", split_dir=splits)
    (splits / "ImageNet_LT_val.txt").write_text("train/x.JPEG\n")
    with pytest.raises(DatasetLayoutError, match="line 1 is not"):
        ImageNetLT(root, split="val", split_dir=splits)
    (splits / "ImageNet_LT_val.txt").write_text("train/n01440764/a.JPEG 1000\n")
    with pytest.raises(DatasetLayoutError, match=r"entry 1 \(train/n01440764/a.JPEG\) has label 1000, outside 0..999"):
        ImageNetLT(root, split="val", split_dir=splits)
    (splits / "ImageNet_LT_val.txt").write_text("train/n01440764/a.JPEG 0\ntrain/n01440764/b.JPEG 1\n")
    with pytest.raises(DatasetLayoutError, match="entry 2 .* label 1 but entry 1 gives the folder n01440764 label 0"):
        ImageNetLT(root, split="val", split_dir=splits)


def test_shot_buckets_on_the_boundary_counts(tmp_path):
    counts = [0, 5, 19, 20, 21, 99, 100, 101, 1280]
    lines = [f"train/c{label}/{k}.JPEG {label}" for label, count in enumerate(counts) for k in range(count)]
    train_file = tmp_path / "ImageNet_LT_train.txt"
    train_file.write_text("\n".join(lines) + "\n")
    assert [SHOT_BUCKETS[code] for code in shot_buckets(train_file, num_classes=9).tolist()] == [
        "few", "few", "few", "medium", "medium", "medium", "medium", "many", "many"]
    assert shot_buckets(train_file, num_classes=9).tolist() == buckets_from_counts(torch.tensor(counts)).tolist()
    # class 0 has no line in the file but still gets a row; num_classes pads classes beyond the last label
    assert len(shot_buckets(train_file)) == 9 and len(shot_buckets(train_file, num_classes=12)) == 12
    oltr_code = shot_buckets(train_file, num_classes=9, many_above=99, few_below=21).tolist()  # OLTR's >= 100 / <= 20
    assert [SHOT_BUCKETS[code] for code in oltr_code] == [
        "few", "few", "few", "few", "medium", "medium", "many", "many", "many"]
    with pytest.raises(ValueError, match="num_classes=5"):
        shot_buckets(train_file, num_classes=5)
    assert SHOT_BUCKETS == ("many", "medium", "few")
    assert read_split_file(train_file)[0] == ("train/c1/0.JPEG", 1)


def test_registered():
    assert DATASETS.get("ImageNetVal") is ImageNetVal and DATASETS.get("ImageNetLT") is ImageNetLT
