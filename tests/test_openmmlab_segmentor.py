"""MMSegSegmentor with the VSSD UperNet configs on an ADE20K example (seg extra: mmsegmentation + mmcv)."""
from pathlib import Path

import pytest
import torch

from bench.checkpoint import CheckpointError
from bench.config import load_config, to_plain
from bench.datasets.segmentation import ADE20K
from bench.methods.openmmlab import MMSegSegmentor
from bench.results import read_results
from bench.runner import evaluate

# a VSSD/UperNet small enough for CPU tests, set through the shipped config
TINY = {"method.model.backbone.embed_dim": 16, "method.model.backbone.depths": (1, 1, 2, 1),
        "method.model.backbone.num_heads": (1, 2, 4, 8), "method.model.backbone.d_state": 8,
        "method.model.decode_head.in_channels": [16, 32, 64, 128], "method.model.decode_head.channels": 16,
        "method.model.auxiliary_head.in_channels": 64, "method.model.auxiliary_head.channels": 8,
        "method.checkpoint": None}


def tiny_method(**overrides) -> MMSegSegmentor:
    cfg = load_config("vssd/ade20k_upernet_vssd_tiny", TINY)
    return MMSegSegmentor(**{**{k: v for k, v in to_plain(cfg.method).items() if k != "type"}, **overrides})


@pytest.fixture()
def ade_root(tmp_path: Path) -> Path:
    pytest.importorskip("mmseg")
    return ADE20K.write_example(tmp_path / "ADEChallengeData2016", size=(40, 30))


@pytest.mark.seg
@pytest.mark.parametrize(("config", "millions"), [("vssd/ade20k_upernet_vssd_micro", 42),
                                                  ("vssd/ade20k_upernet_vssd_tiny", 53)])
def test_shipped_configs_build_with_the_papers_parameter_counts(config, millions):
    """Sheet section 7: UperNet Micro 42M, Tiny 53M (rounded), without the auxiliary head, which the repo's
    get_flops.py removes before counting (with it Tiny has 54.07M). Micro's config is our reconstruction."""
    pytest.importorskip("mmseg")
    cfg = load_config(config)
    model = MMSegSegmentor(**{k: v for k, v in to_plain(cfg.method).items() if k != "type"}).build_model()
    total = sum(p.numel() for p in model.parameters())
    auxiliary = sum(p.numel() for p in model.auxiliary_head.parameters())
    assert round((total - auxiliary) / 1e6) == millions


@pytest.mark.seg
@pytest.mark.parametrize(("config", "gflops"), [("vssd/ade20k_upernet_vssd_micro", 893),
                                                ("vssd/ade20k_upernet_vssd_tiny", 941)])
def test_flops_with_the_repos_tool_match_the_paper(config, gflops):
    """The repo's segmentation/tools/analysis_tools/get_flops.py: mmengine's get_model_complexity_info at
    3x2048x512 with the auxiliary head removed. Measured 893.31G and 941.04G (Micro with d_state 48: 891.75G)."""
    pytest.importorskip("mmseg")
    from mmengine.analysis import get_model_complexity_info

    cfg = load_config(config)
    model = MMSegSegmentor(**{k: v for k, v in to_plain(cfg.method).items() if k != "type"}).build_model()
    model.auxiliary_head = None
    with torch.no_grad():
        flops = get_model_complexity_info(model, (3, 2048, 512), show_table=False, show_arch=False)["flops"]
    assert round(flops / 1e9) == gflops


@pytest.mark.seg
def test_end_to_end_run_matches_mmseg_iou_metric(tmp_path, ade_root):
    from mmseg.evaluation import IoUMetric

    cfg = load_config("vssd/ade20k_upernet_vssd_tiny", {
        **TINY, "dataset.data_root": str(ade_root), "run.work_dir": str(tmp_path / "run"), "run.num_workers": 0,
        "run.batch_size": 2})
    run_dir = evaluate(cfg, progress=False, wandb_mode="disabled")
    results = read_results(run_dir)
    assert results["smoke"] is True and set(results["metrics"]) == {"mIoU", "mAcc", "aAcc"}

    method = tiny_method()
    method.setup(torch.device("cpu"), seed=cfg.run.seed)
    metric = IoUMetric(iou_metrics=["mIoU"])
    metric.dataset_meta = {"classes": [str(i) for i in range(150)]}
    data = ADE20K(ade_root, with_image=False)
    for index in range(len(data)):
        item = data[index]
        pred = method.predict_one(item["img_path"])
        assert pred.shape == item["gt_seg_map"].shape == (30, 40)
        metric.process({}, [{"pred_sem_seg": {"data": pred[None]}, "gt_sem_seg": {"data": item["gt_seg_map"][None]}}])
    theirs = metric.compute_metrics(metric.results)
    assert theirs["mIoU"] == pytest.approx(round(results["metrics"]["mIoU"] * 100, 2), abs=1e-9)
    assert theirs["aAcc"] == pytest.approx(round(results["metrics"]["aAcc"] * 100, 2), abs=1e-9)


@pytest.mark.seg
def test_random_weights_are_seeded_and_checkpoints_round_trip(tmp_path, ade_root):
    image = str(ade_root / "images/validation/ADE_val_00000001.jpg")
    first, second, other_seed = tiny_method(), tiny_method(), tiny_method()
    for method, seed in ((first, 0), (second, 0), (other_seed, 1)):
        method.setup(torch.device("cpu"), seed=seed)
    assert torch.equal(first.predict_one(image), second.predict_one(image))
    state = first.model.state_dict()
    assert not all(torch.equal(v, other_seed.model.state_dict()[k]) for k, v in state.items())

    path = tmp_path / "upernet_vssd_tiny.pth"
    torch.save({"meta": {"mmseg_version": "1.2.2", "iter": 160000}, "state_dict": state}, path)
    loaded = tiny_method(checkpoint=str(path))
    loaded.setup(torch.device("cpu"), seed=1)
    assert loaded.smoke is False and loaded.weights["state_dict_key"] == "state_dict"
    assert torch.equal(loaded.predict_one(image), first.predict_one(image))

    torch.save({"state_dict": {k: v for k, v in state.items() if not k.startswith("auxiliary_head")}}, path)
    with pytest.raises(CheckpointError, match="auxiliary_head"):
        tiny_method(checkpoint=str(path)).setup(torch.device("cpu"))


@pytest.mark.seg
def test_repo_tta_views_scale_the_test_scale(ade_root):
    """The VSSD repo's MS protocol: Resize to (2048 r, 512 r) keep-ratio for r in (0.75, 1, 1.25), x flip."""
    method = tiny_method(tta=True)
    method.setup(torch.device("cpu"))
    views = method.pipeline({"img_path": str(ade_root / "images/validation/ADE_val_00000001.jpg")})
    shapes = [(s.metainfo["img_shape"], s.metainfo["flip"]) for s in views["data_samples"]]
    # a 40x30 image: the short side goes to 384 / 512 / 640
    assert sorted(shapes) == sorted([((384, 512), False), ((384, 512), True), ((512, 683), False),
                                     ((512, 683), True), ((640, 853), False), ((640, 853), True)])


@pytest.mark.seg
def test_tta_with_one_view_equals_single_scale_and_full_tta_runs(ade_root):
    image = str(ade_root / "images/validation/ADE_val_00000002.jpg")
    single = tiny_method()
    single.setup(torch.device("cpu"))
    one_view = [dict(type="LoadImageFromFile"),
                dict(type="TestTimeAug", transforms=[[dict(type="Resize", scale=(2048, 512), keep_ratio=True)],
                                                     [dict(type="RandomFlip", prob=0.0, direction="horizontal")],
                                                     [dict(type="PackSegInputs")]])]
    tta_one = tiny_method(tta=True, tta_pipeline=one_view)
    tta_one.setup(torch.device("cpu"))
    assert torch.equal(tta_one.predict_one(image), single.predict_one(image))
    full = tiny_method(tta=True)
    full.setup(torch.device("cpu"))
    pred = full.predict_one(image)
    assert pred.shape == (30, 40) and pred.dtype == torch.int64 and 0 <= int(pred.min()) <= int(pred.max()) < 150


def test_without_the_seg_extra_the_error_names_the_fix(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mmseg", None)  # what a missing package looks like to import
    with pytest.raises(ImportError, match="seg` extra"):
        tiny_method().setup(torch.device("cpu"))


def test_pipeline_scales_become_tuples_again_after_a_json_round_trip():
    from bench.methods.openmmlab.common import numeric_lists_to_tuples

    pipeline = [{"type": "Resize", "scale": [2048, 512], "keep_ratio": True},
                {"type": "TestTimeAug", "transforms": [[{"type": "Resize", "scale": [1536, 384]}], []]}]
    assert numeric_lists_to_tuples(pipeline) == [
        {"type": "Resize", "scale": (2048, 512), "keep_ratio": True},
        {"type": "TestTimeAug", "transforms": [[{"type": "Resize", "scale": (1536, 384)}], []]}]
    assert numeric_lists_to_tuples([True, False]) == [True, False]
