"""The DiffAct adapter through the runner: released-checkpoint evaluation, seeds, encoder outputs, epoch selection."""
import json

import pytest
import torch

from bench.checkpoint import CheckpointError
from bench.config import load_config
from bench.datasets.action_segmentation import GeneratedActionVideos
from bench.formats.mstcn import read_prediction_file
from bench.io import atomic_write_json
from bench.methods.diffact import DiffAct
from bench.methods.diffact.selection import select_epoch
from bench.results import read_results, train_dir_for
from bench.runner import evaluate, score
from test_diffact_training import TINY


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A state dict saved as the official release.model files are (torch.save of model.state_dict())."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("trained_models") / "release.model"
    torch.save(DiffAct(**TINY).build_model().state_dict(), path)
    return path


def run_config(tmp_path, checkpoint, **method):
    root = tmp_path / "videos"
    GeneratedActionVideos(subset="test", num_videos=6, frames=(30, 50), feature_dim=16, root=root)
    return load_config("demo/diffact_generated", {
        "run.work_dir": str(tmp_path / "run"), "train": None,
        "dataset": dict(type="GeneratedActionVideos", subset="test", num_videos=6, frames=(30, 50), feature_dim=16,
                        root=str(root)),
        "method": {**TINY, "checkpoint": str(checkpoint), "encoder_outputs": True, **method}})


def test_released_model_runs_end_to_end_and_rescoring_agrees(tmp_path, release):
    cfg = run_config(tmp_path, release)
    run_dir = evaluate(cfg, progress=False)
    results = read_results(run_dir)
    assert results["samples"]["effective"] == 2 and results["figures"] == {"barcode": "figures/barcode.png"}
    assert set(results["metrics"]) == {f"{p}{m}" for p in ("", "encoder_")
                                       for m in ("Acc", "Edit", "F1@10", "F1@25", "F1@50")}
    assert score(run_dir)["metrics"] == results["metrics"]  # bench score recomputes from the stored predictions

    # official-format prediction files: pooled frame accuracy from them equals the run's Acc
    assert results["exports"] == {"prediction": "prediction"}
    dataset = GeneratedActionVideos(subset="test", num_videos=6, frames=(30, 50), feature_dim=16,
                                    root=tmp_path / "videos")
    correct = total = 0
    for video in dataset.videos:
        predicted = read_prediction_file(run_dir / "prediction" / f"{video}.txt")
        truth = (dataset.data_root / "groundTruth" / f"{video}.txt").read_text().split()
        assert len(predicted) == len(truth)
        correct += sum(p == t for p, t in zip(predicted, truth, strict=True))
        total += len(truth)
    assert results["metrics"]["Acc"] == correct / total
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["method"]["seed_rule"] == "video index in the test list"
    assert provenance["method"]["checkpoint"]["sha256"]


def test_seed_rule_is_the_video_index(tmp_path, release):
    method = DiffAct(**{**TINY, "checkpoint": str(release)})
    method.setup(torch.device("cpu"))
    features = torch.randn(1, 16, 40)
    batch = {"features": [features, features], "target": [torch.zeros(40), torch.zeros(40)],
             "index": torch.tensor([3, 3])}
    same = method.predict(batch, torch.tensor([1, 2]))["prediction"]
    assert torch.equal(same[0], same[1])  # same index, different harness seeds: identical (seed = index)
    other = method.predict({**batch, "index": torch.tensor([3, 4])}, torch.tensor([1, 1]))["prediction"]
    sampled = [method.segment_video(method.model, features, seed)["prediction"] for seed in (3, 4)]
    assert other[0].tolist() == sampled[0].tolist() and other[1].tolist() == sampled[1].tolist()


def test_missing_and_mismatched_checkpoints_are_explained(tmp_path, release):
    with pytest.raises(FileNotFoundError, match="release.model of Finspire13/DiffAct"):
        DiffAct(**{**TINY, "checkpoint": str(tmp_path / "nope.model")}).setup(torch.device("cpu"))
    with pytest.raises(CheckpointError, match="missing keys"):
        DiffAct(**{**TINY, "checkpoint": str(release), "num_classes": 9,
                   "encoder_params": {**TINY["encoder_params"], "num_layers": 4}}).setup(torch.device("cpu"))


def test_select_epoch_takes_the_best_avg_common_to_every_split(tmp_path):
    def write(split, epoch, value):
        atomic_write_json(tmp_path / f"s{split}" / f"test_results_epoch{epoch}.json",
                          {"epoch": epoch, **{m: value for m in ("Acc", "Edit", "F1@10", "F1@25", "F1@50")}})

    for epoch, (a, b) in {0: (0.5, 0.5), 100: (0.9, 0.6), 200: (0.7, 0.8), 300: (0.99, 0.99)}.items():
        write(1, epoch, a)
        if epoch != 300:  # split 2 never reached epoch 300: it is not a candidate
            write(2, epoch, b)
    epoch, averages = select_epoch([tmp_path / "s1", tmp_path / "s2"])
    assert epoch == 100 and averages == pytest.approx({0: 0.5, 100: 0.75, 200: 0.75})  # tie: the earlier epoch
    with pytest.raises(FileNotFoundError, match="train those splits first"):
        select_epoch([tmp_path / "s1", tmp_path / "s3"])


def test_selected_epoch_reads_the_splits_upstream_checkpoints(tmp_path):
    """``best_avg_on_test`` takes every split's training folder from its upstream checkpoint, never from configs."""
    from bench.config import to_plain
    from bench.upstream import UpstreamError

    selected = load_config("diffact/gtea_split2_train_selected")
    assert sorted(selected.upstream) == ["split1", "split2", "split3", "split4"]
    spec = {k: v for k, v in to_plain(selected.method).items() if k != "type"}
    with pytest.raises(UpstreamError, match="unresolved upstream reference"):
        DiffAct(**spec).use_checkpoint(tmp_path / "s2" / "epoch-200.model")
    for split in (1, 2, 3, 4):
        for epoch, value in {100: 0.6 - split / 100, 200: 0.5 + split / 100}.items():
            atomic_write_json(tmp_path / f"s{split}" / f"test_results_epoch{epoch}.json",
                              {"epoch": epoch, **{m: value for m in ("Acc", "Edit", "F1@10", "F1@25", "F1@50")}})
    spec["epoch_selection"]["train_checkpoints"] = [str(tmp_path / f"s{k}" / "epoch-200.model") for k in (1, 2, 3, 4)]
    method = DiffAct(**spec)
    method.use_checkpoint(tmp_path / "s2" / "epoch-200.model")
    assert method.selected["epoch"] == 100 and method.checkpoint == str(tmp_path / "s2" / "epoch-100.model")
    with pytest.raises(ValueError, match="not among the folders"):
        method.use_checkpoint(tmp_path / "s5" / "epoch-200.model")


def test_selected_and_last_epoch_configs_share_one_training():
    last, selected = load_config("diffact/gtea_split2_train"), load_config("diffact/gtea_split2_train_selected")
    assert train_dir_for(last) == train_dir_for(selected)
    assert train_dir_for(last) != train_dir_for(load_config("diffact/gtea_split3_train"))
    assert selected.paper.setting == {"dataset": "GTEA", "split": "2", "selection": "selected on test (as published)"}
    assert last.paper.setting["selection"] == "last epoch"
    released = load_config("diffact/50salads_split5")
    assert released.method.checkpoint == "checkpoints/diffact/50salads-Trained-S5/release.model"
    assert released.method.sample_rate == 8 and released.method.postprocess == {"type": "median", "value": 30}


def diffact_demo_runs(decoder: dict[str, float], encoder: dict[str, float]) -> dict:
    metrics = {**decoder, **{f"encoder_{name}": value for name, value in encoder.items()}}
    return {"diffact_generated": {"metrics": metrics, "samples": {"effective": 4}, "run_dir": "/r/diffact",
                                  "figures": {"barcode": "figures/barcode.png"}}}


def test_demo_summary_says_whether_the_decoder_beats_its_encoder():
    from bench.registry import DEMOS

    summarize = DEMOS.get("diffact")
    names = ("Acc", "Edit", "F1@10", "F1@25", "F1@50")
    worse = summarize(diffact_demo_runs(dict(zip(names, (0.52, 0.55, 0.47, 0.37, 0.19), strict=True)),
                                        dict(zip(names, (0.87, 0.59, 0.71, 0.68, 0.54), strict=True))))
    assert worse.headline == {"decoder Acc": 0.52, "encoder Acc": 0.87, "decoder F1@50": 0.19, "encoder F1@50": 0.54}
    assert "On 4 generated test videos" in worse.sentence and "Acc 0.52 vs 0.87" in worse.sentence
    # mean of (-0.35, -0.04, -0.24, -0.31, -0.35) = -0.258
    assert "ahead on 0 of five (mean difference -25.8 points): does not reproduce" in worse.sentence
    assert worse.figures == ["/r/diffact/figures/barcode.png"]
    better = summarize(diffact_demo_runs(dict.fromkeys(names, 0.8), dict.fromkeys(names, 0.7)))
    assert "improves on its encoder on all five" in better.sentence and "does not" not in better.sentence
    nan_edit = summarize(diffact_demo_runs({**dict.fromkeys(names, 0.8), "Edit": float("nan")},
                                           dict.fromkeys(names, 0.7)))
    assert "ahead on 4 of five" in nan_edit.sentence
    with pytest.raises(KeyError, match="needs the run 'diffact_generated'.*bench demo --only diffact"):
        summarize({})
