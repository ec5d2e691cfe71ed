"""Segmentation histograms, mIoU and the Evaluator's class-metric family: golden values, mmseg's histc formula and a
confusion matrix as references, the task wiring."""
import numpy as np
import pytest
import torch

from bench.metrics.segmentation import (AREA_COLUMNS, CLASS_METRIC_NAMES, MeanIoU, SegmentationClassMetrics,
                                       intersect_and_union, segmentation_columns)
from bench.registry import METRICS, TASKS

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


# --- SegmentationClassMetrics: FusionSAM's Evaluator family -------------------------------------------------------


def confusion_matrix_family(preds, labels, num_classes):
    """The Evaluator's recipe written out: a confusion matrix (rows label, columns prediction) over pixels with
    0 <= label < num_classes, summed over images, then per-class values from its diagonal and sums."""
    matrix = np.zeros((num_classes, num_classes))
    for pred, label in zip(preds, labels, strict=True):
        pred, label = pred.numpy().ravel(), label.numpy().ravel()
        keep = (label >= 0) & (label < num_classes)
        matrix += np.bincount(num_classes * label[keep].astype(int) + pred[keep],
                              minlength=num_classes ** 2).reshape(num_classes, num_classes)
    tp = np.diag(matrix)
    fp, fn = matrix.sum(axis=0) - tp, matrix.sum(axis=1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        return {"Acc": tp / (matrix.sum(axis=0) + 1e-8), "IoU": tp / (tp + fn + fp), "Recall": recall,
                "Precision": precision, "F1": (2.0 * precision * recall) / (precision + recall),
                "Dice": 2 * tp / ((tp + fp) + (tp + fn))}


def random_maps(seed=0, num_images=4):
    """Labels in {0, 1, 2, 4} and 255; predictions in {0, 1, 2, 3}: class 3 is predicted but never labelled, class 4
    labelled but never predicted, class 5 neither."""
    rng = np.random.default_rng(seed)
    preds, labels = [], []
    for _ in range(num_images):
        label = rng.choice([0, 1, 2, 4, 255], size=(23, 31), p=[0.3, 0.25, 0.2, 0.15, 0.1])
        pred = np.where(rng.random((23, 31)) < 0.6, np.minimum(label, 3), rng.integers(0, 4, size=(23, 31)))
        preds.append(torch.from_numpy(pred.astype(np.int64)))
        labels.append(torch.from_numpy(label.astype(np.int64)))
    return preds, labels


def test_class_metric_family_equals_a_direct_confusion_matrix_computation():
    preds, labels = random_maps()
    columns = segmentation_columns(preds, labels, num_classes=6)
    reference = confusion_matrix_family(preds, labels, num_classes=6)
    values = SegmentationClassMetrics().compute(columns)
    for name in CLASS_METRIC_NAMES:
        ours = np.array([values[f"{name}.{c}"] for c in range(6)])
        np.testing.assert_array_equal(ours, reference[name], err_msg=name)  # exact, NaN where the reference's is
    # the absent classes: 3 (predicted only), 4 (labelled only), 5 (neither)
    assert values["IoU.3"] == 0 and np.isnan(values["Recall.3"]) and np.isnan(values["F1.3"])
    assert values["Acc.4"] == 0 and np.isnan(values["Precision.4"]) and values["Dice.4"] == 0
    assert np.isnan(values["IoU.5"]) and values["Acc.5"] == 0
    # the official plain mean over every id: a NaN class makes the mean NaN; Acc has none
    assert np.isnan(values["mIoU"]) and np.isnan(values["mF1"])
    assert values["mAcc"] == pytest.approx(reference["Acc"].mean(), rel=1e-15)
    assert values["num_classes_averaged"] == 6


def test_nanmean_and_excluded_classes_change_only_the_means():
    preds, labels = random_maps(seed=1)
    columns = segmentation_columns(preds, labels, num_classes=6)
    reference = confusion_matrix_family(preds, labels, num_classes=6)
    names = ["unlabeled", "car", "person", "bike", "curve", "bump"]
    values = SegmentationClassMetrics(class_names=names, average="nanmean").compute(columns)
    assert values["mIoU"] == pytest.approx(np.nanmean(reference["IoU"]), rel=1e-15)
    assert values["mF1"] == pytest.approx(np.nanmean(reference["F1"]), rel=1e-15)
    assert values["IoU.car"] == reference["IoU"][1]
    kept = [0, 1, 2]  # without the three absent classes every mean is finite
    excluded = SegmentationClassMetrics(class_names=names, exclude_classes=["bike", 4, 5]).compute(columns)
    assert excluded["num_classes_averaged"] == 3
    for name in CLASS_METRIC_NAMES:
        assert excluded[f"m{name}"] == pytest.approx(reference[name][kept].mean(), rel=1e-15)
        per_class = np.array([excluded[f"{name}.{c}"] for c in names])  # still reported for every class
        np.testing.assert_array_equal(per_class, reference[name], err_msg=name)
    assert set(SegmentationClassMetrics(per_class=False).compute(columns)) == {
        "num_classes_averaged", "mAcc", "mIoU", "mRecall", "mPrecision", "mF1", "mDice"}


def test_class_metric_golden_values():
    values = SegmentationClassMetrics(class_names=["a", "b", "c", "d"]).compute(
        segmentation_columns([PRED], [LABEL], num_classes=4))
    # intersect [1, 3, 2, 1], pred [3, 3, 3, 1], label [2, 4, 2, 1] (see the golden test above)
    assert values["Precision.a"] == pytest.approx(1 / 3) and values["Recall.a"] == pytest.approx(1 / 2)
    assert values["F1.a"] == pytest.approx(0.4) and values["Dice.a"] == pytest.approx(0.4)
    assert values["Acc.b"] == pytest.approx(1.0) and values["Recall.b"] == pytest.approx(3 / 4)
    assert values["mIoU"] == pytest.approx(np.mean([1 / 4, 3 / 4, 2 / 3, 1]))


def test_class_metric_option_errors_name_the_fix():
    columns = segmentation_columns([PRED], [LABEL], num_classes=4)
    with pytest.raises(ValueError, match="3 class names for 4 classes"):
        SegmentationClassMetrics(class_names=["a", "b", "c"]).compute(columns)
    with pytest.raises(ValueError, match="'sky' is not one of the class_names"):
        SegmentationClassMetrics(class_names=["a", "b", "c", "d"], exclude_classes=["sky"])
    with pytest.raises(ValueError, match="exclude_classes \\[7\\] are not class ids 0..3"):
        SegmentationClassMetrics(exclude_classes=[7]).compute(columns)
    with pytest.raises(ValueError, match="leaves no class"):
        SegmentationClassMetrics(exclude_classes=[0, 1, 2, 3]).compute(columns)
    with pytest.raises(ValueError, match="average must be one of \\('mean', 'nanmean'\\)"):
        SegmentationClassMetrics(average="median")


def test_class_metrics_build_from_the_registry_in_a_segmentation_task():
    task = TASKS.build(dict(type="segmentation", metrics=[dict(type="SegmentationClassMetrics", per_class=False,
                                                              prefix="fmb_")]))
    values = task.evaluate(segmentation_columns([PRED], [LABEL], num_classes=4))
    assert values["fmb_mIoU"] == pytest.approx(np.mean([1 / 4, 3 / 4, 2 / 3, 1]))
    assert METRICS.get("SegmentationClassMetrics") is SegmentationClassMetrics
