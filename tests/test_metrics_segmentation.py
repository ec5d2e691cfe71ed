"""Segmentation histograms and mIoU: golden values, mmseg's histc formula as reference, the task wiring."""
import numpy as np
import pytest
import torch

from bench.metrics.segmentation import AREA_COLUMNS, MeanIoU, intersect_and_union, segmentation_columns
from bench.registry import TASKS

PRED = torch.tensor([[0, 0, 1, 2],
                     [1, 1, 2, 2],
                     [3, 0, 0, 1]])
LABEL = torch.tensor([[0, 1, 1, 2],
                      [1, 255, 2, 0],
                      [3, 7, 255, 1]])  # 255 ignored; 7 >= num_classes counts in no class


def test_intersect_and_union_golden_values():
    stats = intersect_and_union(PRED, LABEL, num_classes=4)
    # kept pixels (label != 255): pred [0,0,1,2, 1,2,2, 3,0,1], label [0,1,1,2, 1,2,0, 3,7,1]
    assert stats["area_intersect"].tolist() == [1, 3, 2, 1]
    assert stats["area_pred_label"].tolist() == [3, 3, 3, 1]
    assert stats["area_label"].tolist() == [2, 4, 2, 1]
    assert stats["area_union"].tolist() == [4, 4, 3, 1]
    assert all(v.dtype == torch.int64 for v in stats.values())


def mmseg_histc_reference(pred, label, num_classes, ignore_index=255):
    """mmseg IoUMetric.intersect_and_union, written out: float histc over [0, num_classes - 1]."""
    mask = label != ignore_index
    pred, label = pred[mask].float(), label[mask].float()
    intersect = pred[pred == label]
    hist = [torch.histc(x, bins=num_classes, min=0, max=num_classes - 1) for x in (intersect, pred, label)]
    return hist[0], hist[1] + hist[2] - hist[0], hist[1], hist[2]


def test_matches_mmseg_histc_formula_on_random_maps():
    rng = np.random.default_rng(0)
    for num_classes in (2, 7, 150):
        pred = torch.from_numpy(rng.integers(0, num_classes, size=(37, 53)))
        label = torch.from_numpy(rng.integers(0, num_classes + 3, size=(37, 53)))
        label[rng.random((37, 53)) < 0.2] = 255
        ours = intersect_and_union(pred, label, num_classes)
        reference = mmseg_histc_reference(pred, label, num_classes)
        for name, expected in zip(AREA_COLUMNS, reference, strict=True):
            assert torch.equal(ours[name], expected.long()), name


def test_shape_mismatch_is_an_error_naming_the_fix():
    with pytest.raises(ValueError, match="original"):
        intersect_and_union(PRED, LABEL[:, :3], num_classes=4)


def test_mean_iou_sums_images_first_and_skips_classes_never_seen():
    second_pred, second_label = torch.tensor([[0, 0], [0, 0]]), torch.tensor([[0, 0], [1, 255]])
    columns = segmentation_columns([PRED, second_pred], [LABEL, second_label], num_classes=5)
    assert columns["area_intersect"].shape == (2, 5)
    values = MeanIoU(per_class=True).compute(columns)
    # image 2 keeps 3 pixels: pred [0, 0, 0], label [0, 0, 1] -> intersect [2, 0], union [3, 1]
    # totals: intersect [3, 3, 2, 1, 0], union [7, 5, 3, 1, 0], label [4, 5, 2, 1, 0]
    iou = np.array([3 / 7, 3 / 5, 2 / 3, 1 / 1])  # class 4: union 0 -> NaN, left out of the mean
    assert values["mIoU"] == pytest.approx(iou.mean())
    assert np.isnan(values["IoU.4"]) and values["IoU.2"] == pytest.approx(2 / 3)
    assert values["aAcc"] == pytest.approx(9 / 12)
    assert values["mAcc"] == pytest.approx(np.mean([3 / 4, 3 / 5, 2 / 2, 1 / 1]))


def test_per_class_names_must_match_the_number_of_classes():
    columns = segmentation_columns([PRED], [LABEL], num_classes=4)
    assert "IoU.road" in MeanIoU(per_class=True, class_names=["road", "car", "sky", "tree"]).compute(columns)
    with pytest.raises(ValueError, match="3 class names for 4"):
        MeanIoU(per_class=True, class_names=["a", "b", "c"]).compute(columns)


def test_segmentation_task_requires_the_histograms():
    task = TASKS.build(dict(type="segmentation"))
    columns = segmentation_columns([PRED], [LABEL], num_classes=4)
    assert set(task.evaluate(columns)) == {"mIoU", "mAcc", "aAcc"}
    with pytest.raises(KeyError, match="area_union"):
        task.evaluate({k: v for k, v in columns.items() if k != "area_union"})
