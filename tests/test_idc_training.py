"""IDC training (bench.methods.idc.training): the official step/EMA/accumulation rules and exact resume."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bench.checkpoint import load_checkpoint_file
from bench.methods.idc.label_images import label_images
from bench.methods.idc.model import build_idc
from bench.methods.idc.training import ParameterEMA, flip_rotate, train_idc

from idc_fixture import TINY_UNET


class TinySet(torch.utils.data.Dataset):
    def __init__(self, n: int = 20) -> None:
        g = torch.Generator().manual_seed(0)
        self.images, self.targets = torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % 3

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "target": self.targets[i]}


def test_parameter_ema_copies_before_the_start_and_decays_after():
    net = nn.Linear(2, 1)
    ema = ParameterEMA(net, decay=0.9)
    before = ema.shadow["weight"].clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, with_decay=False)
    torch.testing.assert_close(ema.shadow["weight"], net.weight.detach())
    with torch.no_grad():
        net.weight.add_(1.0)
    ema.update(net, with_decay=True)
    torch.testing.assert_close(ema.shadow["weight"], 0.1 * net.weight.detach() + 0.9 * (before + 1.0))


def test_flip_rotate_is_a_per_image_flip_then_rotation():
    image = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    torch.manual_seed(3)
    out = flip_rotate(image, degrees=0.0)  # no rotation: each image is flipped or kept, independently
    torch.manual_seed(3)
    flips = []
    for _ in range(2):
        flips.append(torch.rand(1).item() < 0.5)
        torch.empty(1).uniform_(0.0, 0.0)
    for i, flipped in enumerate(flips):
        torch.testing.assert_close(out[i], image[i].flip(-1) if flipped else image[i])


def _train(work_dir, epochs, **options):
    torch.manual_seed(0)
    model = build_idc(TINY_UNET)
    cfg = dict(batch_size=6, lr=1e-3, accumulate_grad_batches=2, ema=dict(decay=0.9, interval=1, start_step=2),
               seed=0)
    cfg.update(options)
    return train_idc(model, label_images(3, 8), TinySet(), work_dir, torch.device("cpu"), lambda x: x,
                     epochs=epochs, **cfg)


def test_training_writes_the_authors_layout_and_logs_losses(tmp_path):
    path = _train(tmp_path, epochs=2)
    state = load_checkpoint_file(path)
    assert sorted(state) == ["ema", "epoch", "model", "step"]
    # 20 samples, batch 6, drop_last: 3 steps per epoch; the optimiser steps at global steps 2, 4, 6
    assert (state["epoch"], state["step"]) == (2, 6)
    assert set(state["ema"]) == {n for n, _ in build_idc(TINY_UNET).named_parameters()}
    log = json.loads((tmp_path / "training_log.json").read_text())
    assert [r["step"] for r in log] == [3, 6]
    for record in log:  # loss = intra + inter, and the inter term is never positive
        assert record["loss"] == pytest.approx(record["intra"] + record["inter"], abs=1e-6)
        assert record["inter"] <= 0


def test_resume_after_an_odd_epoch_continues_exactly(tmp_path):
    # 3 batches per epoch with 2 accumulated: the first epoch ends with half a gradient pending, which is saved
    full = load_checkpoint_file(_train(tmp_path / "full", epochs=2))
    _train(tmp_path / "split", epochs=1)
    (tmp_path / "split" / "idc_model.pth").unlink()
    resumed = load_checkpoint_file(_train(tmp_path / "split", epochs=2))
    for key, value in full["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=0)
    for key, value in full["ema"].items():
        torch.testing.assert_close(resumed["ema"][key], value, rtol=0, atol=0)


def test_schedulers_and_bad_options(tmp_path):
    path = _train(tmp_path / "step", epochs=2, lr_scheduler=dict(type="StepLR", step_size=1, gamma=0.5))
    log = json.loads((path.parent / "training_log.json").read_text())
    assert [r["lr"] for r in log] == [5e-4, 2.5e-4]
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        _train(tmp_path / "bad", epochs=1, lr_scheduler=dict(type="Cosine"))
    with pytest.raises(ValueError, match="augment"):
        _train(tmp_path / "bad2", epochs=1, augment="mixup")
