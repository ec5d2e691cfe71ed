"""DiffAct training: official checkpoint files, exact resume, per-epoch test scores."""
import json
import logging

import pytest
import torch

from bench.datasets.action_segmentation import GeneratedActionVideos
from bench.methods.diffact import DiffAct
from bench.methods.diffact.training import LATEST, TrainSettings, saved_epochs
from bench.seeding import seed_everything

TINY = dict(
    num_classes=9,
    encoder_params=dict(num_layers=3, num_f_maps=8, input_dim=16, kernel_size=3, normal_dropout_rate=0.5,
                        channel_dropout_rate=0.3, temporal_dropout_rate=0.3, feature_layer_indices=[1, 2]),
    decoder_params=dict(num_layers=2, num_f_maps=8, time_emb_dim=16, kernel_size=3, dropout_rate=0.1),
    diffusion_params=dict(timesteps=1000, sampling_timesteps=3, ddim_sampling_eta=1.0, snr_scale=0.5,
                          cond_types=["full", "zero", "boundary03-", "segment=1", "segment=2"]),
    sample_rate=2, postprocess=dict(type="purge", value=2))
TRAIN = dict(epochs=4, batch_size=3, lr=1e-3, soft_label=1.4, boundary_smooth=1, eval_every=2, seed=3,
             loss_weights={"encoder_ce_loss": 0.5, "encoder_mse_loss": 0.1, "encoder_boundary_loss": 0.0,
                           "decoder_ce_loss": 0.5, "decoder_mse_loss": 0.1, "decoder_boundary_loss": 0.1})


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("generated") / "videos"
    kwargs = dict(num_videos=6, frames=(30, 50), feature_dim=16, root=root)
    return GeneratedActionVideos(subset="train", **kwargs), GeneratedActionVideos(subset="test", **kwargs)


def test_saved_epochs_follow_log_freq_and_the_last_epoch():
    assert saved_epochs(TrainSettings(epochs=10001, eval_every=100))[:3] == [0, 100, 200]
    assert saved_epochs(TrainSettings(epochs=10001, eval_every=100))[-1] == 10000
    assert saved_epochs(TrainSettings(epochs=7, eval_every=3)) == [0, 3, 6]
    with pytest.raises(ValueError, match="encoder_boundary_loss must be 0"):
        TrainSettings(epochs=1, loss_weights={**TRAIN["loss_weights"], "encoder_boundary_loss": 0.1})


def test_training_writes_official_files_and_resumes_exactly(videos, tmp_path, caplog):
    train_set, test_set = videos
    torch.manual_seed(0)
    straight = DiffAct(**TINY).fit(train_set, test_set, tmp_path / "straight", torch.device("cpu"), **TRAIN)
    assert straight.name == "epoch-3.model"
    assert sorted(p.name for p in straight.parent.glob("*.model")) == ["epoch-0.model", "epoch-2.model",
                                                                       "epoch-3.model"]
    scores = json.loads((straight.parent / "test_results_epoch2.json").read_text())
    assert set(scores) == {"epoch", "Acc", "Edit", "F1@10", "F1@25", "F1@50"} and 0 <= scores["Acc"] <= 1

    # a run stopped after epoch 1 and resumed gives the same weights as the uninterrupted one
    torch.manual_seed(0)
    DiffAct(**TINY).fit(train_set, test_set, tmp_path / "resumed", torch.device("cpu"), **{**TRAIN, "epochs": 2})
    seed_everything(99)  # resume restores every RNG from latest.pt
    resumed = DiffAct(**TINY).fit(train_set, test_set, tmp_path / "resumed", torch.device("cpu"), **TRAIN)
    a = torch.load(straight, weights_only=True)
    b = torch.load(resumed, weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)

    # a latest.pt of an older bench (the loop generator under "numpy", torch states only) still resumes exactly
    # (DiffAct draws nothing from python's or numpy's global RNG), with a warning naming what it lacks
    torch.manual_seed(0)
    DiffAct(**TINY).fit(train_set, None, tmp_path / "old", torch.device("cpu"), **{**TRAIN, "epochs": 2})
    state = torch.load(tmp_path / "old" / LATEST, weights_only=True)
    rng = state["rng"]
    state["rng"] = {"numpy": rng["generators"]["loop"], "torch": rng["torch"],
                    **({"cuda": rng["cuda"]} if "cuda" in rng else {})}
    torch.save(state, tmp_path / "old" / LATEST)
    seed_everything(99)
    with caplog.at_level(logging.WARNING, logger="bench.train"):
        old = DiffAct(**TINY).fit(train_set, None, tmp_path / "old", torch.device("cpu"), **TRAIN)
    expected = f"{tmp_path / 'old' / LATEST} stores no RNG state for python, numpy (written by an older bench"
    assert expected in caplog.text
    c = torch.load(old, weights_only=True)
    assert all(torch.equal(a[k], c[k]) for k in a)


def test_fit_rejects_a_class_count_mismatch(videos, tmp_path):
    with pytest.raises(ValueError, match="mapping has 9 classes but method.num_classes is 5"):
        DiffAct(**{**TINY, "num_classes": 5}).fit(videos[0], None, tmp_path, torch.device("cpu"), **TRAIN)
