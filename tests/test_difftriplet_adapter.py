"""DiffTriplet adapter: outputs, seeding, guidance switch, inference modes, the per-fold backbone stage, configs."""
import numpy as np
import pytest
import torch
from mmengine.config import Config

from bench.config import configs_root
from bench.datasets.cholec_triplet import CholecT45, GeneratedSurgicalVideos, write_cholect45_example
from bench.methods.difftriplet import DiffTriplet
from bench.registry import METHODS
from test_difftriplet_training import LOSS_WEIGHTS, TINY_MODEL

TRAIN = dict(epochs=2, batch_size=1, lr=1e-3, seed=0, loss_weights=LOSS_WEIGHTS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("surgical")
    kwargs = dict(videos_per_fold=2, frames=(20, 30), feature_dim=12, root=root / "videos")
    train_set, test_set = GeneratedSurgicalVideos(subset="train", **kwargs), GeneratedSurgicalVideos(**kwargs)
    method = DiffTriplet(**TINY_MODEL)
    checkpoint = method.fit(train_set, None, root / "train", torch.device("cpu"), **TRAIN)
    return checkpoint, test_set


def predict(checkpoint, dataset, **overrides):
    method = DiffTriplet(**{**TINY_MODEL, **overrides})
    method.use_checkpoint(checkpoint)
    method.setup(torch.device("cpu"))
    batch = method.collate([dataset[i] for i in range(len(dataset))])
    return method, method.predict(batch, torch.arange(len(dataset)))


def test_outputs_are_triplet_scores_per_video(trained):
    checkpoint, videos = trained
    _, out = predict(checkpoint, videos, encoder_outputs=True, compare_unguided=True)
    assert sorted(out) == ["encoder_triplet_scores", "triplet_scores", "triplet_target", "unguided_triplet_scores"]
    for scores, target, index in zip(out["triplet_scores"], out["triplet_target"], range(len(videos)), strict=True):
        assert scores.shape == target.shape == (len(videos.targets[index]), 100)
        assert torch.equal(target, videos.targets[index][:, :100].float())
        assert scores.min() >= 0 and scores.max() <= 1
    # guidance changed the decoder's triplet scores; the unguided column equals a run with λ = 0 (same seeds)
    assert not torch.allclose(out["triplet_scores"][0], out["unguided_triplet_scores"][0])
    _, off = predict(checkpoint, videos, guidance=dict(scale=0.0))
    assert all(torch.equal(a, b) for a, b in zip(off["triplet_scores"], out["unguided_triplet_scores"], strict=True))


def test_sampling_is_seeded_by_video_index_and_modes_combine(trained):
    checkpoint, videos = trained
    method, first = predict(checkpoint, videos, encoder_outputs=True)
    _, again = predict(checkpoint, videos)
    assert torch.equal(first["triplet_scores"][1], again["triplet_scores"][1])
    harness, _ = predict(checkpoint, videos, set_sampling_seed=False)
    batch = harness.collate([videos[0]])
    assert torch.equal(harness.predict(batch, torch.tensor([0]))["triplet_scores"][0], first["triplet_scores"][0])
    assert not torch.equal(harness.predict(batch, torch.tensor([7]))["triplet_scores"][0], first["triplet_scores"][0])
    _, encoder = predict(checkpoint, videos, inference="encoder")
    assert torch.equal(encoder["triplet_scores"][0], first["encoder_triplet_scores"][0])
    feats = videos[0]["features"]
    expected = torch.sigmoid(method.model.encode(feats)[0])[0, :100].T
    assert torch.allclose(encoder["triplet_scores"][0], expected, atol=1e-6)
    _, ensemble = predict(checkpoint, videos, inference="ensemble")
    mean = (first["triplet_scores"][0] + first["encoder_triplet_scores"][0]) / 2
    assert torch.allclose(ensemble["triplet_scores"][0], mean, atol=1e-6)


def test_rejects_single_label_masking_and_unknown_modes():
    with pytest.raises(ValueError, match="cond_types"):
        DiffTriplet(**{**TINY_MODEL, "diffusion_params": dict(cond_types=["segment=1"])})
    with pytest.raises(ValueError, match="inference"):
        DiffTriplet(**TINY_MODEL, inference="decoder-agg")


def test_per_fold_backbone_never_sees_the_test_videos(tmp_path):
    root = write_cholect45_example(tmp_path / "CholecT45", videos=["VID79", "VID80", "VID31"], frames=(6, 8),
                                   image_size=(16, 16))
    train_set = CholecT45(root, fold=1, subset="train", videos=["VID80", "VID31"], frames=True)
    test_set = CholecT45(root, fold=1, subset="test", videos=["VID79"], frames=True)
    backbone = dict(model_name="test_resnet", input_size=32, epochs=1, batch_size=4, lr=1e-3)
    params = {**TINY_MODEL, "encoder_params": {**TINY_MODEL["encoder_params"], "input_dim": 0}}
    probe = DiffTriplet(**params, backbone=backbone)
    from bench.methods.difftriplet.features import FrameBackbone

    width = FrameBackbone(probe.backbone_settings).model.num_features
    params["encoder_params"]["input_dim"] = width
    method = DiffTriplet(**params, backbone=backbone)
    checkpoint = method.fit(train_set, None, tmp_path / "train", torch.device("cpu"), **{**TRAIN, "epochs": 1})
    record = (tmp_path / "train" / "backbone" / "backbone.json").read_text()
    assert '"VID80"' in record and '"VID31"' in record and "VID79" not in record
    cached = np.load(tmp_path / "train" / "backbone" / "features" / "VID80.npy")
    assert cached.shape == (len(train_set.targets[0]), width)
    assert (tmp_path / "train" / "backbone" / "final.pth").is_file()

    evaluator = DiffTriplet(**params, backbone=backbone)
    evaluator.use_checkpoint(checkpoint)
    evaluator.setup(torch.device("cpu"))
    out = evaluator.predict(evaluator.collate([test_set[0]]), torch.zeros(1))
    assert out["triplet_scores"][0].shape == (len(test_set.targets[0]), 100)
    assert (tmp_path / "train" / "backbone" / "features" / "VID79.npy").is_file()
    with pytest.raises(ValueError, match="leak"):
        evaluator.predict(evaluator.collate([train_set[0]]), torch.zeros(1))


@pytest.mark.parametrize("name", sorted(p.stem for p in (configs_root() / "difftriplet").glob("*.py")))
def test_paper_configs_build(name):
    cfg = Config.fromfile(str(configs_root() / "difftriplet" / f"{name}.py"))
    method = METHODS.build(cfg.method.to_dict())
    assert method.guidance_cfg["components"] == ["i", "v", "t"] and method.backbone_settings.model_name == "resnet50"
    assert cfg.dataset.split in ("cv", "challenge") and cfg.train.dataset.subset == "train"
    assert cfg.paper.setting["dataset"] == cfg.dataset.type


def test_demo_summary_reads_guidance_and_the_encoder_from_the_ap_numbers():
    from bench.registry import DEMOS

    summarize = DEMOS.get("difftriplet")

    def runs(guided, unguided, encoder):
        return {"difftriplet_generated": {"metrics": {"AP_IVT": guided, "unguided_AP_IVT": unguided,
                                                      "encoder_AP_IVT": encoder, "AP_I": 0.9},
                                          "samples": {"effective": 3}, "run_dir": "/r/dt"}}

    absent = summarize(runs(0.221, 0.242, 0.573))  # the full demo's numbers (README)
    assert absent.headline == {"AP_IVT guided": 0.221, "AP_IVT unguided": 0.242, "AP_IVT encoder": 0.573,
                               "AP_I guided": 0.9}
    assert "on 3 generated test videos" in absent.sentence
    assert "guidance does not raise it by more than 0.01 (0.221 vs 0.242)" in absent.sentence
    assert "and the decoder is below the encoder alone (0.573)" in absent.sentence
    assert absent.sentence.endswith("does not reproduce the paper's effect at this scale.")
    assert absent.figures == []
    shown = summarize(runs(0.6, 0.5, 0.55))
    assert "guidance raises it" in shown.sentence and "at or above the encoder" in shown.sentence
    assert shown.sentence.endswith("the paper's effect shows at this scale.")
    # guidance helps but the decoder stays below the encoder: not the paper's picture
    assert "does not reproduce" in summarize(runs(0.3, 0.2, 0.5)).sentence
    # a difference within the floor is not read as guidance helping (the quick demo's 0.287 vs 0.286)
    assert "does not raise it" in summarize(runs(0.287, 0.286, 0.2)).sentence
    with pytest.raises(KeyError, match="bench demo --only difftriplet"):
        summarize({"other": {}})
