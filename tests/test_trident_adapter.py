"""The Trident adapter end to end through the runner: the smoke demo on generated scenes with tiny models."""
import pytest
import torch

from bench.config import load_config, to_plain
from bench.datasets.segmentation import GeneratedScenes
from bench.methods.trident.adapter import TridentSegmentor, build_dino, build_sam, resolve_class_file
from bench.results import read_results
from bench.runner import evaluate

pytest.importorskip("open_clip")
pytest.importorskip("segment_anything")


def demo_method(**overrides) -> TridentSegmentor:
    cfg = to_plain(load_config("demo/trident_generated_scenes").method)
    cfg.pop("type")
    return TridentSegmentor(**{**cfg, **overrides})


def test_demo_runs_end_to_end_as_smoke_and_repeats_exactly(tmp_path):
    metrics = []
    for name in ("first", "second"):
        cfg = load_config("demo/trident_generated_scenes", {"run.work_dir": str(tmp_path / name)})
        results = read_results(evaluate(cfg, progress=False, wandb_mode="disabled"))
        assert results["smoke"] is True and set(results["metrics"]) == {"mIoU", "mAcc", "aAcc"}
        metrics.append(results["metrics"])
    assert metrics[0] == metrics[1] and 0.0 <= metrics[0]["mIoU"] <= 1.0


def test_refinement_changes_the_prediction():
    image = GeneratedScenes(num_images=1, size=(64, 96), num_classes=3)[0]["image"]
    refined, coarse = demo_method(), demo_method(refinement=None)
    for method in (refined, coarse):
        method.setup(torch.device("cpu"), seed=0)
    with_refinement, without = refined.predict_one(image), coarse.predict_one(image)
    assert with_refinement.shape == without.shape == (64, 96)
    assert not torch.equal(with_refinement, without)


def test_missing_weights_and_class_files_name_what_is_expected():
    with pytest.raises(FileNotFoundError, match="sam_vit_b_01ec64.pth"):
        build_sam({"model_type": "vit_b", "checkpoint": "nowhere/sam.pth"})
    with pytest.raises(FileNotFoundError, match="dino_vitbase16_pretrain.pth"):
        build_dino({"checkpoint": None})
    with pytest.raises(FileNotFoundError, match="one class per line"):
        resolve_class_file("trident/classes/cls_nowhere.txt")
    assert resolve_class_file("demo/trident_classes.txt").read_text().startswith("background; ")
