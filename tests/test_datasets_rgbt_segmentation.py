"""RGB–thermal readers on examples written in FMB's and MFNet's release layouts, and the generated demo scenes."""
import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import DatasetLayoutError
from bench.datasets.rgbt_segmentation import FMB, MFNet, GeneratedRGBTScenes
from bench.registry import DATASETS


def test_fmb_reads_both_splits_of_its_example(tmp_path):
    FMB.write_example(tmp_path, "train", seed=1)
    FMB.write_example(tmp_path, "test", stems=("00007", "00004"))
    train = DATASETS.build(dict(type="FMB", data_root=str(tmp_path), split="train"))
    test = FMB(tmp_path)  # default split: test
    assert (len(train), len(test)) == (3, 2) and train.num_classes == 15 and train.ignore_index == 255
    assert [test.sample_id(i) for i in range(2)] == ["00004", "00007"]  # scanned, sorted by name
    item = train[1]
    assert item["image"].shape == (3, 30, 40) and item["thermal"].shape == (1, 30, 40)
    assert item["gt_seg_map"].shape == (30, 40)
    assert all(item[key].dtype == torch.uint8 for key in ("image", "thermal", "gt_seg_map"))
    assert item["img_path"].endswith("train/Visible/00002.png")
    assert item["seg_map_path"].endswith("train/Label/00002.png")
    infrared = np.array(Image.open(tmp_path / "train/Infrared/00002.png"))
    assert infrared.shape == (30, 40, 3) and torch.equal(item["thermal"][0], torch.from_numpy(infrared[..., 0]))
    assert torch.equal(item["image"], torch.from_numpy(np.array(Image.open(item["img_path"]))).permute(2, 0, 1))
    label = np.array(Image.open(item["seg_map_path"]))
    assert torch.equal(item["gt_seg_map"], torch.from_numpy(label)) and (label[:, :4] == 255).all()
    assert int(label[label != 255].max()) <= 14
    assert train.describe()["thermal_dir"].endswith("train/Infrared") and train.describe()["split"] == "train"


def test_fmb_reads_single_channel_infrared_and_fingerprint_tracks_it(tmp_path):
    FMB.write_example(tmp_path)
    before = FMB(tmp_path).fingerprint()
    grey = np.arange(30 * 40, dtype=np.uint8).reshape(30, 40)
    Image.fromarray(grey).save(tmp_path / "test/Infrared/00003.png")  # mode "L"
    data = FMB(tmp_path)
    assert torch.equal(data[2]["thermal"][0], torch.from_numpy(grey))
    assert data.fingerprint() != before


def test_mfnet_splits_four_channel_images_into_rgb_and_thermal(tmp_path):
    MFNet.write_example(tmp_path, "val", stems=("00010N", "00003D"))
    MFNet.write_example(tmp_path, "test", seed=2)
    val = DATASETS.build(dict(type="MFNet", data_root=str(tmp_path), split="val"))
    assert [val.sample_id(i) for i in range(len(val))] == ["00010N", "00003D"]  # the list's order
    assert len(MFNet(tmp_path)) == 3 and val.num_classes == 9 and val.classes[0] == "unlabeled"
    item = val[0]
    pixels = np.array(Image.open(tmp_path / "images/00010N.png"))
    assert pixels.shape == (30, 40, 4)
    assert torch.equal(item["image"], torch.from_numpy(pixels[..., :3]).permute(2, 0, 1))
    assert torch.equal(item["thermal"], torch.from_numpy(pixels[..., 3])[None])
    assert torch.equal(item["gt_seg_map"], torch.from_numpy(np.array(Image.open(tmp_path / "labels/00010N.png"))))
    assert item["gt_seg_map"].max() <= 8 and item["img_path"].endswith("images/00010N.png")


def test_class_names_match_the_label_ids():
    assert len(FMB.classes) == FMB.num_classes == len(set(FMB.classes)) == 15
    assert len(MFNet.classes) == MFNet.num_classes == len(set(MFNet.classes)) == 9
    assert (FMB.classes[0], MFNet.classes[0]) == ("background", "unlabeled")
    assert FMB.unlabeled_index == MFNet.unlabeled_index == 0


def test_wrong_root_names_the_missing_folder_and_the_layout(tmp_path):
    with pytest.raises(DatasetLayoutError) as error:
        FMB(tmp_path / "nowhere", split="train")
    assert "nowhere/train/Visible" in str(error.value) and "SegMiF" in str(error.value)
    with pytest.raises(DatasetLayoutError, match=r"missing image directory\n  path: .*nowhere/images"):
        MFNet(tmp_path / "nowhere")
    MFNet.write_example(tmp_path, "train")
    with pytest.raises(DatasetLayoutError, match=r"missing split file\n  path: .*/val.txt"):
        MFNet(tmp_path, split="val")
    with pytest.raises(ValueError, match="split must be one of \\('train', 'test'\\), got 'val'"):
        FMB(tmp_path, split="val")


def test_missing_infrared_image_names_the_file(tmp_path):
    FMB.write_example(tmp_path)
    (tmp_path / "test/Infrared/00002.png").unlink()
    with pytest.raises(DatasetLayoutError, match="missing infrared image.*\n  path: .*test/Infrared/00002.png"):
        FMB(tmp_path)


def test_label_values_outside_the_classes_are_refused(tmp_path):
    MFNet.write_example(tmp_path)
    path = tmp_path / "labels/00002N.png"
    label = np.array(Image.open(path))
    label[0, :3] = (9, 12, 9)
    Image.fromarray(label).save(path)
    data = MFNet(tmp_path)
    assert data[0]["gt_seg_map"].shape == (30, 40)
    with pytest.raises(DatasetLayoutError) as error:
        data[1]
    assert "label values [9, 12] (3 pixels) are neither class ids 0..8 nor 255 (ignore)" in str(error.value)
    assert str(path) in str(error.value)


def test_three_channel_mfnet_image_and_mismatched_sizes_are_refused(tmp_path):
    MFNet.write_example(tmp_path)
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp_path / "images/00001D.png")
    with pytest.raises(DatasetLayoutError, match="image mode 'RGB' \\(3 channel\\(s\\)\\); MFNet images are 4-channel"):
        MFNet(tmp_path)[0]
    FMB.write_example(tmp_path / "fmb")
    Image.fromarray(np.zeros((20, 40), np.uint8)).save(tmp_path / "fmb/test/Infrared/00001.png")
    with pytest.raises(DatasetLayoutError, match=r"visible \(30, 40\), thermal \(20, 40\) and label \(30, 40\)"):
        FMB(tmp_path / "fmb")[0]


def test_generated_scenes_are_deterministic_in_the_seed():
    data = GeneratedRGBTScenes(num_images=4, size=(32, 48), num_classes=5, seed=3)
    again = GeneratedRGBTScenes(num_images=4, size=(32, 48), num_classes=5, seed=3)
    for index in range(4):
        for key in ("image", "thermal", "gt_seg_map"):
            assert torch.equal(data[index][key], again[index][key])
    item = data[1]
    assert (item["image"].shape, item["thermal"].shape, item["gt_seg_map"].shape) == ((3, 32, 48), (1, 32, 48),
                                                                                      (32, 48))
    assert all(item[key].dtype == torch.uint8 for key in ("image", "thermal", "gt_seg_map"))
    other = GeneratedRGBTScenes(num_images=4, size=(32, 48), num_classes=5, seed=4)[1]
    assert not torch.equal(other["image"], item["image"]) and data.sample_id(1) == "rgbt-scene-3-0001"
    assert data.classes == ("background", "cool1", "warm2", "cool3", "warm4")
    assert (data.rgb_classes, data.thermal_classes) == ((1, 3), (2, 4))


def test_generated_classes_show_only_in_their_own_modality():
    """Per class, the mean |object - background| over lit scenes: cool classes differ in RGB only, warm classes in
    thermal only (within the noise averaged over a few hundred pixels); dark scenes are near black, warm only."""
    data = GeneratedRGBTScenes(num_images=24, size=(48, 48), num_classes=5, seed=0, dark_fraction=0.3)
    rgb_contrast: dict[int, list[float]] = {c: [] for c in range(1, 5)}
    thermal_contrast: dict[int, list[float]] = {c: [] for c in range(1, 5)}
    dark = [i for i in range(len(data)) if data.is_dark(i)]
    assert 3 <= len(dark) <= 12
    for index in range(len(data)):
        item = data[index]
        label, rgb, thermal = item["gt_seg_map"], item["image"].double(), item["thermal"][0].double()
        if index in dark:
            assert rgb.mean() < 12 and set(label.unique().tolist()) <= {0, 2, 4}
            continue
        background = label == 0
        for c in label.unique().tolist():
            if c:
                inside = label == c
                rgb_contrast[c].append(float((rgb[:, inside].mean(1) - rgb[:, background].mean(1)).abs().mean()))
                thermal_contrast[c].append(float((thermal[inside].mean() - thermal[background].mean()).abs()))
    for c in (1, 3):  # cool, textured
        assert np.mean(rgb_contrast[c]) > 40 and np.mean(thermal_contrast[c]) < 2
    for c in (2, 4):  # warm, camouflaged in RGB
        assert np.mean(thermal_contrast[c]) > 60 and np.mean(rgb_contrast[c]) < 2


def test_generated_scenes_refuse_bad_arguments():
    with pytest.raises(ValueError, match="num_classes >= 3"):
        GeneratedRGBTScenes(num_classes=2)
    with pytest.raises(ValueError, match="dark_fraction must be in \\[0, 1\\], got 1.5"):
        GeneratedRGBTScenes(dark_fraction=1.5)
    with pytest.raises(ValueError, match="at least 16 x 16"):
        GeneratedRGBTScenes(size=(8, 64))
