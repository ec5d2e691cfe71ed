"""Training loop: an interrupted run resumed from latest.pth ends with the same weights as an uninterrupted one."""
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.checkpoint import CheckpointError
from bench.datasets.digits import Digits
from bench.seeding import seed_everything
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


def test_a_sparser_latest_checkpoint_resumes_to_the_same_weights(tmp_path: Path):
    data = Digits(split="train")
    settings = dict(epochs=3, batch_size=100, lr=1e-2, seed=0)
    clean = train_supervised(make_model(), data, loss_after(None), tmp_path / "clean", torch.device("cpu"), **settings)
    with pytest.raises(KeyboardInterrupt):  # dies in epoch 3 (10 batches per epoch): latest.pth is epoch 2's
        train_supervised(make_model(), data, loss_after(25), tmp_path / "sparse", torch.device("cpu"),
                         checkpoint_every=2, **settings)
    assert torch.load(tmp_path / "sparse" / LATEST, weights_only=True)["epoch"] == 2
    resumed = train_supervised(make_model(), data, loss_after(None), tmp_path / "sparse", torch.device("cpu"),
                               checkpoint_every=2, **settings)
    a = torch.load(clean, weights_only=True)["state_dict"]
    b = torch.load(resumed, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="checkpoint_every must be an epoch count >= 1, got 0"):
        train_supervised(make_model(), data, loss_after(None), tmp_path / "bad", torch.device("cpu"),
                         checkpoint_every=0, **settings)


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


def make_dropout_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Dropout(0.5),
                               torch.nn.Linear(32, 10))


def augmented_loss(kill_at_epoch: int | None = None):
    """Cross-entropy on randomly augmented digits: torch noise, a numpy-drawn flip and a python-drawn gain (every
    global RNG); raises in the first batch of epoch ``kill_at_epoch`` (counted from 0, 3 batches per epoch)."""
    calls = {"n": 0}

    def loss_fn(model, batch):
        if kill_at_epoch is not None and calls["n"] == 3 * kill_at_epoch:
            raise KeyboardInterrupt("killed")
        calls["n"] += 1
        images = batch["image"] + 0.1 * torch.randn_like(batch["image"])
        if np.random.rand() < 0.5:
            images = images.flip(-1)
        return F.cross_entropy(model(images * random.uniform(0.8, 1.2)), batch["target"])

    return loss_fn


def test_resume_of_a_model_with_dropout_and_augmentation_is_bitwise_exact(tmp_path: Path):
    data = Digits(split="val")  # 297 digits
    settings = dict(epochs=3, batch_size=100, lr=1e-2, seed=0)
    seed_everything(0)
    clean = train_supervised(make_dropout_model(), data, augmented_loss(), tmp_path / "clean", torch.device("cpu"),
                             **settings)
    seed_everything(0)
    with pytest.raises(KeyboardInterrupt):  # two epochs done, killed at the start of the third
        train_supervised(make_dropout_model(), data, augmented_loss(kill_at_epoch=2), tmp_path / "resumed",
                         torch.device("cpu"), **settings)
    assert torch.load(tmp_path / "resumed" / LATEST, weights_only=True)["epoch"] == 2
    model = make_dropout_model()
    seed_everything(12345)  # a fresh process: every global RNG elsewhere
    resumed = train_supervised(model, data, augmented_loss(), tmp_path / "resumed", torch.device("cpu"), **settings)
    a = torch.load(clean, weights_only=True)["state_dict"]
    b = torch.load(resumed, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_latest_checkpoint_without_rng_state_resumes_with_a_warning(tmp_path: Path, caplog):
    data = Digits(split="val")
    with pytest.raises(KeyboardInterrupt):
        train_supervised(make_model(), data, loss_after(1), tmp_path, torch.device("cpu"), epochs=2, batch_size=1000)
    state = torch.load(tmp_path / LATEST, weights_only=True)
    del state["rng"]  # a latest.pth of an older bench
    torch.save(state, tmp_path / LATEST)
    with caplog.at_level(logging.WARNING, logger="bench.train"):
        train_supervised(make_model(), data, loss_after(None), tmp_path, torch.device("cpu"), epochs=2, batch_size=1000)
    assert (tmp_path / FINAL).is_file()
    assert f"{tmp_path / LATEST} stores no RNG state for python, numpy, torch" in caplog.text


@pytest.mark.parametrize("damage", ["truncated", "empty", "foreign"])
def test_a_damaged_latest_checkpoint_is_an_error_that_says_how_to_restart(tmp_path: Path, damage: str):
    data = Digits(split="val")
    with pytest.raises(KeyboardInterrupt):
        train_supervised(make_model(), data, loss_after(1), tmp_path, torch.device("cpu"), epochs=2, batch_size=1000)
    latest = tmp_path / LATEST
    if damage == "truncated":  # a disk or copy fault
        latest.write_bytes(latest.read_bytes()[:1000])
    elif damage == "empty":
        latest.write_bytes(b"")
    else:  # a checkpoint, but not this loop's resume state
        torch.save({"state_dict": {}}, latest)
    with pytest.raises(CheckpointError) as caught:
        train_supervised(make_model(), data, loss_after(None), tmp_path, torch.device("cpu"), epochs=2, batch_size=1000)
    message = str(caught.value)
    assert message.startswith(f"cannot resume training: {latest}")
    assert message.endswith(f". Delete {latest} to restart this training from its first epoch (the epochs it holds "
                            "are lost), or put back an intact copy; the file is written atomically, so damage points "
                            "to a disk or copy fault.")
    assert {"truncated": "truncated or corrupt", "empty": "is empty (0 bytes)",
            "foreign": "lacks ['model', 'optimizer', 'scheduler', 'epoch']"}[damage] in message
    assert not (tmp_path / FINAL).exists()


def test_constant_lr_and_after_step_hook_on_an_unlabelled_set(tmp_path: Path):
    """improved-diffusion's settings: lr constant throughout, a hook (the EMA update) after every optimiser step;
    batches without a "target" field are counted by their first field."""
    data = [{"image": torch.full((1, 8, 8), float(i % 4) / 4)} for i in range(30)]
    steps: list[int] = []
    model = make_model()

    def loss_fn(net, batch):
        return net(batch["image"]).square().mean()

    def after_step(net):
        assert net is model
        steps.append(len(steps))

    final = train_supervised(model, data, loss_fn, tmp_path, torch.device("cpu"), epochs=2, batch_size=8, lr=1e-3,
                             lr_schedule="constant", after_step=after_step)
    assert steps == list(range(8))  # 30 items in batches of 8: 4 steps in each of 2 epochs
    latest = torch.load(tmp_path / LATEST, weights_only=False)
    assert latest["scheduler"]["_last_lr"] == [1e-3] and latest["optimizer"]["param_groups"][0]["lr"] == 1e-3
    assert torch.load(final, weights_only=True)["meta"]["history"][-1]["epoch"] == 2
    with pytest.raises(ValueError, match="lr_schedule must be one of 'one_cycle', 'constant', 'cosine', got 'linear'"):
        train_supervised(make_model(), data, loss_fn, tmp_path / "other", torch.device("cpu"), epochs=1,
                         lr_schedule="linear")


def test_cosine_schedule_with_warmup_matches_diffusers():
    """D-TRAK's schedule (diffusers' get_cosine_schedule_with_warmup, warm-up over ceil(10%) of the steps), step for
    step."""
    diffusers_optimization = pytest.importorskip("diffusers.optimization")
    from bench.train import make_lr_schedule

    def lrs(make):
        optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
        schedule = make(optimizer)
        values = []
        for _ in range(23):
            values.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return values

    ours = lrs(lambda opt: make_lr_schedule(opt, "cosine", 1e-4, 23, warmup_fraction=0.1))
    peer = lrs(lambda opt: diffusers_optimization.get_cosine_schedule_with_warmup(opt, 3, 23))  # ceil(2.3) = 3
    assert ours == pytest.approx(peer, abs=1e-12)
    assert ours[:4] == pytest.approx([0.0, 1e-4 / 3, 2e-4 / 3, 1e-4]) and ours[-1] < 1e-6


def test_adam_betas_and_gradient_clipping_reach_the_optimiser(tmp_path: Path):
    data = Digits(split="val")
    norms: list[float] = []
    model = make_model()

    def loss_fn(net, batch):
        return 1e3 * F.cross_entropy(net(batch["image"]), batch["target"])  # gradients far above norm 1

    def after_step(net):  # the gradients the step used are still there (zeroed before the next batch)
        norms.append(float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in net.parameters()]))))

    train_supervised(model, data, loss_fn, tmp_path, torch.device("cpu"), epochs=1, batch_size=60, lr=1e-3,
                     lr_schedule="cosine", warmup_fraction=0.1, adam_betas=(0.95, 0.999), max_grad_norm=1.0,
                     after_step=after_step)
    assert len(norms) == -(-len(data) // 60) and max(norms) == pytest.approx(1.0, rel=1e-4)  # clipped to norm 1
    group = torch.load(tmp_path / LATEST, weights_only=False)["optimizer"]["param_groups"][0]
    assert group["betas"] == (0.95, 0.999) and group["eps"] == 1e-8
    with pytest.raises(ValueError, match=r"warmup_fraction must be in \[0, 1\), got 1.5"):
        train_supervised(make_model(), data, loss_fn, tmp_path / "bad", torch.device("cpu"), epochs=1,
                         warmup_fraction=1.5)
