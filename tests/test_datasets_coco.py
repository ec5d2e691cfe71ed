"""COCO instances reader on an example in the official layout; same order as mmdet's CocoDataset (seg extra)."""
import json

import pytest

from bench.data import DatasetLayoutError
from bench.datasets.coco import COCO_CATEGORIES, COCOInstances


def test_example_reads_in_annotation_file_order(tmp_path):
    COCOInstances.write_example(tmp_path, num_images=3)
    data = COCOInstances(tmp_path)
    assert [data.sample_id(i) for i in range(3)] == ["000000000139", "000000000285", "000000000431"]
    assert [int(data[i]["image_id"]) for i in range(3)] == [139, 285, 431]
    assert "image" not in data[0] and COCOInstances(tmp_path, with_image=True)[0]["image"].shape == (3, 48, 64)
    assert data.describe()["num_categories"] == 80


def test_official_categories():
    ids = [cat_id for cat_id, _ in COCO_CATEGORIES]
    assert len(ids) == 80 and ids == sorted(ids) and ids[-1] == 90
    assert set(range(1, 91)) - set(ids) == {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
    assert dict(COCO_CATEGORIES)[1] == "person" and dict(COCO_CATEGORIES)[90] == "toothbrush"


def test_missing_image_and_bad_annotation_file_name_the_path(tmp_path):
    COCOInstances.write_example(tmp_path)
    (tmp_path / "val2017" / "000000000285.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match="000000000285.jpg"):
        COCOInstances(tmp_path)
    (tmp_path / "annotations" / "instances_val2017.json").write_text(json.dumps({"categories": []}))
    with pytest.raises(DatasetLayoutError, match="not a COCO annotation file"):
        COCOInstances(tmp_path)


def test_categories_must_be_the_official_80(tmp_path):
    COCOInstances.write_example(tmp_path)
    path = tmp_path / "annotations" / "instances_val2017.json"
    payload = json.loads(path.read_text())
    payload["categories"] = [c for c in payload["categories"] if c["id"] != 13]  # stop sign gone: labels shift
    path.write_text(json.dumps(payload))
    with pytest.raises(DatasetLayoutError, match=r"not the 80 COCO categories \(missing: \['13 stop sign'\], other: "
                                                 r"none\); detector labels index"):
        COCOInstances(tmp_path)
    payload["categories"].append({"id": 13, "name": "stop-sign"})
    path.write_text(json.dumps(payload))
    with pytest.raises(DatasetLayoutError, match=r"missing: \['13 stop sign'\], other: \['13 stop-sign'\]"):
        COCOInstances(tmp_path)


def test_corrupt_annotation_and_image_files_name_the_file(tmp_path):
    COCOInstances.write_example(tmp_path)
    path = tmp_path / "annotations" / "instances_val2017.json"
    content = path.read_text()
    path.write_text(content[: len(content) // 2])
    with pytest.raises(DatasetLayoutError, match="cannot read a COCO annotation JSON file \\(JSONDecodeError"):
        COCOInstances(tmp_path)
    path.write_text(content.replace('"file_name": "000000000285.jpg"', '"file_name": 285'))
    with pytest.raises(DatasetLayoutError, match="'images' must be a list of"):
        COCOInstances(tmp_path)
    path.write_text(content)
    image = tmp_path / "val2017" / "000000000139.jpg"
    image.write_bytes(image.read_bytes()[:100])
    with pytest.raises(DatasetLayoutError, match=r"cannot read a JPEG image \((OSError|SyntaxError)"):
        COCOInstances(tmp_path, with_image=True)[0]


def test_fingerprint_follows_the_annotation_file(tmp_path):
    COCOInstances.write_example(tmp_path)
    before = COCOInstances(tmp_path).fingerprint()
    COCOInstances.write_example(tmp_path, seed=1)
    assert COCOInstances(tmp_path).fingerprint() != before


@pytest.mark.seg
def test_same_images_in_the_same_order_as_mmdet(tmp_path):
    pytest.importorskip("mmdet")
    from mmdet.datasets import CocoDataset

    COCOInstances.write_example(tmp_path, num_images=4)
    theirs = CocoDataset(data_root=str(tmp_path), ann_file="annotations/instances_val2017.json",
                         data_prefix=dict(img="val2017/"), test_mode=True, pipeline=[])
    ours = COCOInstances(tmp_path)
    assert [(info["img_id"], info["img_path"]) for info in (theirs.get_data_info(i) for i in range(len(theirs)))] \
        == [(int(ours[i]["image_id"]), ours[i]["img_path"]) for i in range(len(ours))]
