"""COCO mAP from stored detections: golden values, parity with mmdet's CocoMetric (seg extra: pycocotools)."""
import json

import numpy as np
import pytest
import torch

from bench.datasets.coco import COCO_CATEGORIES, COCOInstances
from bench.metrics.detection import COCOMeanAP

pytestmark = pytest.mark.seg


def ground_truth_outputs(ann_file, jitter=0.0, seed=0):
    """Detections equal to (or jittered from) the ground truth, one column per output, in image order."""
    from pycocotools import mask as mask_util

    from bench.metrics.detection import encode_masks

    data = json.loads(open(ann_file).read())
    cat_ids = sorted(c["id"] for c in data["categories"])
    rng = np.random.default_rng(seed)
    columns = {"image_id": [], "det_bboxes": [], "det_scores": [], "det_labels": [], "det_masks": []}
    for image in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == image["id"]]
        boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3]]
                          for a in anns]) + rng.normal(0, jitter, size=(len(anns), 4))
        masks = np.stack([mask_util.decode(mask_util.frPyObjects(a["segmentation"], image["height"],
                                                                 image["width"])).max(-1) for a in anns])
        columns["image_id"].append(image["id"])
        columns["det_bboxes"].append(torch.tensor(boxes, dtype=torch.float32))
        columns["det_scores"].append(torch.tensor(rng.uniform(0.5, 1.0, len(anns)), dtype=torch.float32))
        columns["det_labels"].append(torch.tensor([cat_ids.index(a["category_id"]) for a in anns]))
        columns["det_masks"].append(encode_masks(masks))
    columns["image_id"] = torch.tensor(columns["image_id"])
    return columns


@pytest.fixture()
def ann_file(tmp_path):
    pytest.importorskip("pycocotools")
    return str(COCOInstances.write_example(tmp_path, num_images=4) / "annotations" / "instances_val2017.json")


def test_perfect_detections_score_one(ann_file):
    values = COCOMeanAP(ann_file).compute(ground_truth_outputs(ann_file))
    assert values["bbox_mAP"] == pytest.approx(1.0) and values["segm_mAP"] == pytest.approx(1.0)
    assert values["bbox_mAP_50"] == pytest.approx(1.0)


def test_no_detections_score_zero_and_bad_iou_type_raises(ann_file):
    outputs = ground_truth_outputs(ann_file)
    empty = {**outputs, **{k: [v[:0] for v in outputs[k]] for k in ("det_bboxes", "det_scores", "det_labels")},
             "det_masks": [[] for _ in outputs["det_masks"]]}
    assert set(COCOMeanAP(ann_file).compute(empty).values()) == {0.0}
    with pytest.raises(ValueError, match="iou_types"):
        COCOMeanAP(ann_file, iou_types=["keypoints"])


def test_matches_mmdet_coco_metric(ann_file):
    pytest.importorskip("mmdet")
    from mmdet.evaluation import CocoMetric

    outputs = ground_truth_outputs(ann_file, jitter=2.0, seed=3)
    ours = COCOMeanAP(ann_file).compute(outputs)
    metric = CocoMetric(ann_file=ann_file, metric=["bbox", "segm"])
    metric.dataset_meta = {"classes": [name for _, name in COCO_CATEGORIES]}
    for row, image_id in enumerate(outputs["image_id"].tolist()):
        pred = {"bboxes": outputs["det_bboxes"][row], "scores": outputs["det_scores"][row],
                "labels": outputs["det_labels"][row],
                "masks": [{"size": m["size"], "counts": m["counts"].encode()} for m in outputs["det_masks"][row]]}
        metric.process({}, [{"img_id": image_id, "ori_shape": (48, 64), "pred_instances": pred}])
    theirs = metric.compute_metrics(metric.results)
    for key in ("bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "segm_mAP", "segm_mAP_50"):
        assert theirs[key] == pytest.approx(round(ours[key], 3), abs=1e-9), key
    assert 0.0 < ours["bbox_mAP"] < 1.0
