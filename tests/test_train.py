"""Training loop: an interrupted run resumed from latest.pth ends with the same weights as an uninterrupted one."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bench.datasets.digits import Digits
from bench.train import FINAL, LATEST, train_supervised


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))


def loss_after(limit: int | None):
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        if limit is not None and calls["n"] > limit:
            raise KeyboardInterrupt("killed")
        return F.cross_entropy(model(batch["image"]), batch["target"])

    return loss_fn


def test_resume_reproduces_the_uninterrupted_weights(tmp_path: Path):
    data = Digits(split="train")
    settings = dict(epochs=3, batch_size=100, lr=1e-2, seed=0)
    clean = train_supervised(make_model(), data, loss_after(None), tmp_path / "clean", torch.device("cpu"), **settings)

    with pytest.raises(KeyboardInterrupt):  # dies in epoch 2 (10 batches per epoch)
        train_supervised(make_model(), data, loss_after(15), tmp_path / "resumed", torch.device("cpu"), **settings)
    assert torch.load(tmp_path / "resumed" / LATEST, weights_only=True)["epoch"] == 1
    assert not (tmp_path / "resumed" / FINAL).exists()
    resumed = train_supervised(make_model(), data, loss_after(None), tmp_path / "resumed", torch.device("cpu"),
                               **settings)
    a = torch.load(clean, weights_only=True)["state_dict"]
    b = torch.load(resumed, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_finished_training_returns_the_final_checkpoint_at_once(tmp_path: Path):
    data = Digits(split="val")
    first = train_supervised(make_model(), data, loss_after(None), tmp_path, torch.device("cpu"), epochs=1)
    assert train_supervised(make_model(), data, loss_after(0), tmp_path, torch.device("cpu"), epochs=1) == first


def test_a_loss_fn_that_fills_the_gradients_trains_the_same_weights(tmp_path: Path):
    data = Digits(split="val")
    settings = dict(epochs=2, batch_size=100, lr=1e-2, seed=0)

    def manual(model, batch):
        loss = F.cross_entropy(model(batch["image"]), batch["target"])
        loss.backward()
        return {"loss": loss, "half": 0.5 * loss.detach()}

    auto = train_supervised(make_model(), data, loss_after(None), tmp_path / "auto", torch.device("cpu"), **settings)
    hand = train_supervised(make_model(), data, manual, tmp_path / "hand", torch.device("cpu"), backward=False,
                            **settings)
    a, b = torch.load(auto, weights_only=True), torch.load(hand, weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    history = b["meta"]["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert [h["loss"] for h in history] == pytest.approx([h["loss"] for h in a["meta"]["history"]])
    assert all(h["half"] == pytest.approx(0.5 * h["loss"]) for h in history)
    assert history[1]["loss"] < history[0]["loss"]


def test_history_survives_a_resume(tmp_path: Path):
    data = Digits(split="train")
    settings = dict(epochs=2, batch_size=100, lr=1e-2, seed=0)
    with pytest.raises(KeyboardInterrupt):
        train_supervised(make_model(), data, loss_after(12), tmp_path, torch.device("cpu"), **settings)
    final = train_supervised(make_model(), data, loss_after(None), tmp_path, torch.device("cpu"), **settings)
    assert [h["epoch"] for h in torch.load(final, weights_only=True)["meta"]["history"]] == [1, 2]
