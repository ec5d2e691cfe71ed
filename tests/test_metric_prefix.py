"""Every registered metric takes a ``prefix`` (as mmengine's ``BaseMetric``) that the task puts before each name it
returns; ``accuracy`` is a fraction whichever metric reports it."""
from __future__ import annotations

import inspect

import pytest
import torch

from bench.registry import METRICS
from bench.tasks.base import EvalTask

#: the constructor arguments a metric cannot be built without
REQUIRED_ARGS = {"COCOMeanAP": {"ann_file": "instances_val2017.json"},
                 "LDS": {"retrained_losses": "retrained-losses", "query_set": "val"},
                 "LDSGain": {"retrained_losses": "retrained-losses", "query_set": "val", "reference": "run"},
                 "ShotBucketCalibration": {"train_file": "ImageNet_LT_train.txt"},
                 "CostEfficiency": {"standard_accuracy": 0.9, "standard_usd_per_image": 0.01},
                 "IntraLPIPS": {"centres": {"type": "Digits", "split": "test"},
                                "distance": {"type": "features", "extractor": {"type": "PixelCorrelationFeatures"}}}}


@pytest.mark.parametrize("name", METRICS.names())
def test_every_metric_accepts_and_keeps_its_prefix(name):
    cls = METRICS.get(name)
    assert "prefix" in inspect.signature(cls).parameters, f"{name} must accept prefix= and pass it to Metric"
    metric = METRICS.build({"type": name, "prefix": "p_", **REQUIRED_ARGS.get(name, {})})
    assert metric.prefix == "p_"
    assert METRICS.build({"type": name, **REQUIRED_ARGS.get(name, {})}).prefix == ""


def test_metric_names_include_the_paper_metrics_found_through_the_fallback():
    assert {"GuideAccuracy", "SamplingCost", "ClassAccuracy", "Accuracy"} <= set(METRICS.names())


def test_the_task_prefixes_every_name_and_accuracy_is_a_fraction():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 2.0]])
    outputs = {"logits": logits, "target": torch.tensor([0, 1, 1, 1]), "feat_logits": logits,
               "class_label": torch.tensor([0, 1, 1, 1])}
    task = EvalTask([{"type": "Accuracy", "prefix": "cls_"}, {"type": "NLL"},
                     {"type": "ClassAccuracy", "prefix": "digits_"}])
    values = task.evaluate(outputs)
    assert set(values) == {"cls_accuracy", "nll", "digits_accuracy"}
    assert values["cls_accuracy"] == values["digits_accuracy"] == 0.75  # 3 of 4: one unit under one name
    with pytest.raises(ValueError, match="produced twice"):
        EvalTask([{"type": "Accuracy"}, {"type": "ClassAccuracy"}]).evaluate(outputs)
