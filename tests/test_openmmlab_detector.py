"""MMDetDetector with the VSSD Mask R-CNN configs on a COCO example (seg extra: mmdet + mmcv)."""
from pathlib import Path

import pytest
import torch

from bench.config import configs_root, load_config, to_plain
from bench.datasets.coco import COCOInstances
from bench.methods.openmmlab import MMDetDetector
from bench.reported import load_report
from bench.results import paper_cells, read_results
from bench.runner import evaluate

TINY = {"method.model.backbone.embed_dim": 16, "method.model.backbone.depths": (1, 1, 2, 1),
        "method.model.backbone.num_heads": (1, 2, 4, 8), "method.model.backbone.d_state": 8,
        "method.model.neck.in_channels": [16, 32, 64, 128], "method.checkpoint": None}


def method_of(cfg) -> MMDetDetector:
    return MMDetDetector(**{k: v for k, v in to_plain(cfg.method).items() if k != "type"})


def test_coco_configs_name_reported_cells():
    reported = {entry.key for entry in load_report("vssd").entries}
    paths = sorted((configs_root() / "vssd").glob("coco_*.py"))
    assert [p.stem for p in paths] == ["coco_mask_rcnn_vssd_micro_1x", "coco_mask_rcnn_vssd_micro_3x",
                                       "coco_mask_rcnn_vssd_small_1x", "coco_mask_rcnn_vssd_tiny_1x",
                                       "coco_mask_rcnn_vssd_tiny_3x"]
    for path in paths:
        cfg = load_config(path)
        cells = paper_cells(to_plain(cfg.paper), {"bbox_mAP": 0.4, "segm_mAP": 0.4})
        assert [c["metric"] for c in cells] == ["box mAP", "mask mAP"]
        from bench.reported import cell_key

        assert all(cell_key(c["table"], c["setting"], c["metric"]) in reported for c in cells), path.stem
        assert cfg.method.model.neck.in_channels[0] == cfg.method.model.backbone.embed_dim


@pytest.mark.seg
@pytest.mark.parametrize(("config", "exact", "reported"), [("vssd/coco_mask_rcnn_vssd_micro_1x", 33_218_220, 33),
                                                           ("vssd/coco_mask_rcnn_vssd_tiny_1x", 43_909_644, 44),
                                                           ("vssd/coco_mask_rcnn_vssd_small_1x", 59_714_570, 59)])
def test_shipped_configs_build_with_the_papers_parameter_counts(config, exact, reported):
    """Sheet section 7 reports 33M / 44M / 59M; the official Tiny config's own comment says 43.91M, which we match.
    Small comes out at 59.71M, which rounds to 60: its heads are Tiny's and its backbone is larger by exactly the
    classification models' difference (40,075,650 - 24,270,724), so the README's "59M" disagrees with its own
    rounding of Micro and Tiny (a typo or a truncation)."""
    pytest.importorskip("mmdet")
    model = method_of(load_config(config)).build_model()
    count = sum(p.numel() for p in model.parameters())
    assert count == exact
    if "small" in config:
        assert count - 43_909_644 == 40_075_650 - 24_270_724 and round(count / 1e6) == reported + 1
    else:
        assert round(count / 1e6) == reported


@pytest.mark.seg
def test_end_to_end_smoke_run_on_a_coco_example(tmp_path: Path):
    pytest.importorskip("mmdet")
    root = COCOInstances.write_example(tmp_path / "coco", num_images=2, size=(96, 64))
    ann_file = str(root / "annotations" / "instances_val2017.json")
    cfg = load_config("vssd/coco_mask_rcnn_vssd_tiny_1x", {
        **TINY, "dataset.data_root": str(root), "task.metrics": [dict(type="COCOMeanAP", ann_file=ann_file)],
        "run.work_dir": str(tmp_path / "run"), "run.num_workers": 0, "run.batch_size": 2})
    run_dir = evaluate(cfg, progress=False, wandb_mode="disabled")
    results = read_results(run_dir)
    assert results["smoke"] is True and {"bbox_mAP", "segm_mAP"} <= set(results["metrics"])
    method = method_of(cfg)
    method.setup(torch.device("cpu"), seed=cfg.run.seed)
    batch = method.collate([COCOInstances(root)[0]])
    outputs = method.predict(batch, torch.zeros(1, dtype=torch.int64))
    boxes = outputs["det_bboxes"][0]
    assert boxes.ndim == 2 and boxes.shape[1] == 4 and len(outputs["det_masks"][0]) == len(boxes) <= 100
    if len(boxes):  # boxes are in original pixels, masks at the original size
        assert outputs["det_masks"][0][0]["size"] == [64, 96]
        assert float(boxes[:, 2].max()) <= 96 + 1e-3 and float(outputs["det_scores"][0].min()) >= 0.05
