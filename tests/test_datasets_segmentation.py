"""Segmentation readers on examples written in each benchmark's exact layout; parity with mmseg's datasets."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import DatasetLayoutError
from bench.datasets.segmentation import (ADE20K, COCOObject, COCOStuff164k, Cityscapes, PascalContext59,
                                         PascalContext60, PascalVOC, PascalVOC20, load_label_map)
from bench.registry import DATASETS

PRESETS = (ADE20K, PascalVOC, PascalVOC20, PascalContext60, PascalContext59, COCOObject, COCOStuff164k, Cityscapes)
# the eight Trident benchmarks + ADE20K's class counts and zero reduction (trident.md section 5, mmseg)
EXPECTED = {"ADE20K": (150, True), "PascalVOC": (21, False), "PascalVOC20": (20, True),
            "PascalContext60": (60, False), "PascalContext59": (59, True), "COCOObject": (81, False),
            "COCOStuff164k": (171, False), "Cityscapes": (19, False)}


@pytest.mark.parametrize("preset", PRESETS, ids=lambda c: c.__name__)
def test_each_preset_reads_its_own_example(tmp_path, preset):
    preset.write_example(tmp_path)
    data = DATASETS.build(dict(type=preset.__name__, data_root=str(tmp_path)))
    assert (data.num_classes, data.reduce_zero_label) == EXPECTED[preset.__name__]
    assert [data.sample_id(i) for i in range(len(data))] == sorted(preset.example_stems)
    item = data[0]
    assert item["image"].dtype == torch.uint8 and item["image"].shape == (3, 30, 40)
    assert item["gt_seg_map"].shape == (30, 40) and item["gt_seg_map"].dtype == torch.uint8
    raw = np.array(Image.open(item["seg_map_path"]))
    assert torch.equal(item["gt_seg_map"], torch.from_numpy(load_label_map(item["seg_map_path"],
                                                                            data.reduce_zero_label)))
    assert (item["gt_seg_map"][:, :4] == 255).all() and (raw[:, :4] == 255).all()


@pytest.mark.parametrize("preset", PRESETS, ids=lambda c: c.__name__)
def test_class_names_match_the_label_range(preset):
    assert len(preset.classes) == preset.num_classes == len(set(preset.classes))
    assert all(name == name.strip() and name for name in preset.classes)


def test_class_names_without_background_are_the_background_sets_shifted_by_one():
    assert PascalVOC.classes[0] == PascalContext60.classes[0] == COCOObject.classes[0] == "background"
    assert PascalVOC20.classes == PascalVOC.classes[1:] and PascalContext59.classes == PascalContext60.classes[1:]
    assert COCOObject.classes[1:] == COCOStuff164k.classes[:80]
    assert (COCOObject.classes[80], COCOStuff164k.classes[80]) == ("toothbrush", "banner")  # things end, stuff begins


def test_reduce_zero_label_golden_values(tmp_path):
    path = tmp_path / "label.png"
    Image.fromarray(np.array([[0, 1, 2], [150, 255, 0]], dtype=np.uint8)).save(path)
    assert load_label_map(path, reduce_zero_label=True).tolist() == [[255, 0, 1], [149, 255, 255]]
    assert load_label_map(path).tolist() == [[0, 1, 2], [150, 255, 0]]


def test_palette_png_reads_as_indices(tmp_path):
    """VOC's SegmentationClass PNGs are palette images: the stored indices are the labels, not RGB."""
    indices = np.array([[0, 15, 255], [1, 2, 0]], dtype=np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    image.save(tmp_path / "voc.png")
    assert load_label_map(tmp_path / "voc.png").tolist() == indices.tolist()


def test_split_file_order_is_kept(tmp_path):
    PascalVOC.write_example(tmp_path, stems=("2007_000061", "2007_000033"))
    data = PascalVOC(tmp_path)
    assert [data.sample_id(i) for i in range(2)] == ["2007_000061", "2007_000033"]
    assert data.describe()["split_file"].endswith("ImageSets/Segmentation/val.txt")


def test_cityscapes_scans_city_folders_sorted(tmp_path):
    Cityscapes.write_example(tmp_path)
    data = Cityscapes(tmp_path)
    assert data.sample_id(2) == "lindau/lindau_000000_000019"
    assert data[2]["img_path"].endswith("leftImg8bit/val/lindau/lindau_000000_000019_leftImg8bit.png")
    assert data[2]["seg_map_path"].endswith("gtFine/val/lindau/lindau_000000_000019_gtFine_labelTrainIds.png")


def test_scan_skips_hidden_files_and_folders(tmp_path):
    Cityscapes.write_example(tmp_path)
    images = tmp_path / "leftImg8bit/val"
    (images / "frankfurt/._frankfurt_000000_000294_leftImg8bit.png").write_bytes(b"\x00\x05\x16\x07")  # AppleDouble
    (images / ".ipynb_checkpoints").mkdir()
    (images / ".ipynb_checkpoints/x_leftImg8bit.png").write_bytes(b"")
    data = Cityscapes(tmp_path)
    assert [data.sample_id(i) for i in range(len(data))] == sorted(Cityscapes.example_stems)


def test_label_values_outside_the_classes_are_refused(tmp_path):
    ADE20K.write_example(tmp_path)
    path = tmp_path / "annotations/validation/ADE_val_00000002.png"
    label = np.array(Image.open(path))
    label[0, 5:8] = (151, 200, 200)  # 151 would be class 150 after reduce_zero_label: ADE20K has 0..149
    Image.fromarray(label).save(path)
    data = ADE20K(tmp_path)
    assert data[0]["gt_seg_map"].shape == (30, 40)  # the other maps read as before
    with pytest.raises(DatasetLayoutError) as error:
        data[1]
    message = str(error.value)
    assert "label values [150, 199] (3 pixels) are neither class ids 0..149 nor 255 (ignore)" in message
    assert "before reduce_zero_label: [151, 200]" in message and str(path) in message


def test_corrupt_label_and_image_files_name_the_file(tmp_path):
    PascalVOC.write_example(tmp_path)
    label = tmp_path / "SegmentationClass/2007_000042.png"
    label.write_bytes(label.read_bytes()[:30])
    with pytest.raises(DatasetLayoutError, match="cannot read a label PNG .*2007_000042.png"):
        PascalVOC(tmp_path)[1]
    image = tmp_path / "JPEGImages/2007_000033.jpg"
    image.write_bytes(b"")
    with pytest.raises(DatasetLayoutError, match="cannot read an image .*UnidentifiedImageError"):
        PascalVOC(tmp_path)[0]


def test_missing_label_names_the_file_and_the_layout(tmp_path):
    ADE20K.write_example(tmp_path)
    (tmp_path / "annotations/validation/ADE_val_00000002.png").unlink()
    with pytest.raises(DatasetLayoutError) as error:
        ADE20K(tmp_path)
    message = str(error.value)
    assert "ADE_val_00000002.png" in message and "annotations/validation" in message
    assert "ADEChallengeData2016.zip" in message


def test_wrong_root_and_bad_split_fail_early(tmp_path):
    with pytest.raises(DatasetLayoutError, match="images/validation"):
        ADE20K(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="training"):
        ADE20K(tmp_path, split="val")


def test_with_image_false_skips_decoding_and_fingerprint_tracks_files(tmp_path):
    ADE20K.write_example(tmp_path)
    data = ADE20K(tmp_path, with_image=False)
    assert "image" not in data[0] and "gt_seg_map" in data[0]
    before = data.fingerprint()
    assert ADE20K(tmp_path).fingerprint() == before
    label = tmp_path / "annotations/validation/ADE_val_00000003.png"
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(label)
    assert ADE20K(tmp_path).fingerprint() != before


# --- parity with mmsegmentation's own dataset classes (seg extra) ----------------------------------------------

MMSEG_CLASSES = {ADE20K: ("ADE20KDataset", "images/validation", "annotations/validation", None),
                 PascalVOC: ("PascalVOCDataset", "JPEGImages", "SegmentationClass",
                             "ImageSets/Segmentation/val.txt"),
                 PascalContext59: ("PascalContextDataset59", "JPEGImages", "SegmentationClassContext",
                                   "ImageSets/SegmentationContext/val.txt"),
                 PascalContext60: ("PascalContextDataset", "JPEGImages", "SegmentationClassContext",
                                   "ImageSets/SegmentationContext/val.txt"),
                 COCOStuff164k: ("COCOStuffDataset", "images/val2017", "annotations/val2017", None),
                 Cityscapes: ("CityscapesDataset", "leftImg8bit/val", "gtFine/val", None)}


@pytest.mark.seg
@pytest.mark.parametrize("preset", list(MMSEG_CLASSES), ids=lambda c: c.__name__)
def test_same_samples_and_labels_as_mmseg_dataset(tmp_path: Path, preset):
    pytest.importorskip("mmseg")
    from mmseg.registry import DATASETS as MMSEG_DATASETS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    mmseg_type, img_dir, ann_dir, ann_file = MMSEG_CLASSES[preset]
    preset.write_example(tmp_path)
    pipeline = [dict(type="LoadAnnotations", reduce_zero_label=None)]  # None: take the dataset's setting
    theirs = MMSEG_DATASETS.build(dict(type=mmseg_type, data_root=str(tmp_path), ann_file=ann_file or "",
                                       data_prefix=dict(img_path=img_dir, seg_map_path=ann_dir),
                                       pipeline=pipeline))
    ours = preset(tmp_path)
    assert len(theirs) == len(ours)
    for index in range(len(ours)):
        info, item = theirs.get_data_info(index), ours[index]
        assert Path(info["img_path"]) == Path(item["img_path"])
        assert Path(info["seg_map_path"]) == Path(item["seg_map_path"])
        label = theirs[index]["gt_seg_map"]
        assert np.array_equal(label, item["gt_seg_map"].numpy())
    assert preset.classes == tuple(name.strip() for name in theirs.metainfo["classes"])


def test_generated_scenes_are_deterministic_and_labelled_by_class_colour():
    from bench.datasets.segmentation import GeneratedScenes

    data = GeneratedScenes(num_images=3, size=(32, 48), num_classes=4, seed=5)
    first, again = data[1], GeneratedScenes(num_images=3, size=(32, 48), num_classes=4, seed=5)[1]
    assert torch.equal(first["image"], again["image"]) and torch.equal(first["gt_seg_map"], again["gt_seg_map"])
    assert first["image"].shape == (3, 32, 48) and set(first["gt_seg_map"].unique().tolist()) <= {0, 1, 2, 3}
    assert not torch.equal(data[0]["gt_seg_map"], first["gt_seg_map"]) and data.sample_id(1) == "scene-5-0001"
