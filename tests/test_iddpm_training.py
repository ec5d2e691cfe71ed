"""improved-diffusion's training recipe: the hybrid loss, the EMA, and the EMA file the train stage leaves behind.

Checked once side by side (2026-12-05, openai/improved-diffusion HEAD 1bc7bbb, throwaway script): with the same
weights, t and ε, ``hybrid_loss`` equals the official ``training_losses`` of ``create_gaussian_diffusion(
learn_sigma=True, rescale_timesteps=True, rescale_learned_sigmas=True)`` to float32 rounding (relative 3e-7, cosine
4000 and linear 1000 steps, with and without classes) and so do the parameter gradients (max |Δ| 1.3e-7).
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from bench.methods.diffusion.adm import build_adm, iddpm_model_flags, load_adm
from bench.methods.diffusion.backbones import build_backbone
from bench.methods.diffusion.gaussian import RespacedDiffusion
from bench.methods.diffusion.iddpm_training import WithEMA, hybrid_loss, train_iddpm

# tiny: GroupNorm's 32 groups need num_channels a multiple of 32
TINY = dict(image_size=8, in_channels=1, num_channels=32, num_res_blocks=1, channel_mult=(1, 2),
            attention_resolutions="4", num_heads=1, learn_sigma=True)
DIFFUSION = {"steps": 1000, "noise_schedule": "cosine", "learn_sigma": True}  # improved-diffusion's rescaling


def blobs(n: int) -> list[dict[str, torch.Tensor]]:
    """Synthetic 8x8 grey images in [0, 1] (a bright square at a label-dependent place) with labels 0..9."""
    gen = torch.Generator().manual_seed(11)
    items = []
    for i in range(n):
        image = torch.rand(1, 8, 8, generator=gen) * 0.2
        row, col = divmod(i % 10, 5)
        image[:, 4 * row:4 * row + 3, col:col + 3] = 1.0
        items.append({"image": image, "target": torch.tensor(i % 10)})
    return items


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_ema_update_formula() -> None:
    torch.manual_seed(0)
    trainee = WithEMA(torch.nn.Linear(3, 2), rate=0.9)
    start = trainee.ema.weight.clone()
    assert torch.equal(start, trainee.model.weight) and not trainee.ema.weight.requires_grad
    with torch.no_grad():
        trainee.model.weight.add_(1.0)
    trainee.update()
    once = 0.9 * start + 0.1 * (start + 1)
    assert torch.allclose(trainee.ema.weight, once, rtol=0, atol=1e-7)
    trainee.update()
    assert torch.allclose(trainee.ema.weight, 0.9 * once + 0.1 * (start + 1), rtol=0, atol=1e-7)
    with pytest.raises(ValueError, match="ema_rate must lie in"):
        WithEMA(torch.nn.Linear(1, 1), rate=1.0)


class Output(torch.nn.Module):
    """A "model" whose output is a parameter: the gradients show which loss term trains which channels."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(2)
        self.out = torch.nn.Parameter(torch.randn(shape, dtype=torch.float64, generator=gen))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.seen.append(t)
        return torch.tanh(self.out)


def test_hybrid_loss_terms_and_the_frozen_mean() -> None:
    process = RespacedDiffusion.from_schedule("cosine", 4000, "", "learned_range")
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(3, 1, 4, 4, dtype=torch.float64, generator=gen) * 2 - 1
    noise = torch.randn(3, 1, 4, 4, dtype=torch.float64, generator=gen)
    index = torch.tensor([0, 1234, 3999])
    model = Output((3, 2, 4, 4))
    terms = hybrid_loss(model, process, x0, index, noise)
    assert model.seen[0].dtype == torch.float32 and model.seen[0].tolist() == [0.0, 308.5, 999.75]  # t * 1000 / T
    out = torch.tanh(model.out).detach()
    x_t = process.q_sample(x0, index, noise)
    vb, _ = process.vb_terms_bpd(out, x0, x_t, index)
    assert torch.equal(terms["mse"], ((noise - out[:, :1]) ** 2).mean(dim=(1, 2, 3)))
    assert torch.equal(terms["vb"], vb * 4.0)  # RESCALED_MSE: times T / 1000
    assert torch.equal(terms["loss"], terms["mse"] + terms["vb"]) and (terms["vb"] > 0).all()
    terms["vb"].sum().backward()  # the bound reaches the variance channels only (frozen_out)
    assert model.out.grad[:, :1].abs().max() == 0 and model.out.grad[:, 1:].abs().max() > 0
    plain = hybrid_loss(Output((3, 2, 4, 4)), process, x0, index, noise, rescale_learned_sigmas=False)
    assert torch.equal(plain["vb"], vb)
    unscaled = Output((3, 2, 4, 4))
    hybrid_loss(unscaled, process, x0, index, noise, rescale_timesteps=False)
    assert unscaled.seen[0].tolist() == [0, 1234, 3999]
    with pytest.raises(ValueError, match="returns 2 channels for 1-channel images, got 3"):
        hybrid_loss(Output((3, 3, 4, 4)), process, x0, index, noise)


def test_hybrid_loss_decreases_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    model = build_adm(iddpm_model_flags(**TINY))
    process = RespacedDiffusion.from_schedule("cosine", 1000, "", "learned_range")
    x0 = torch.stack([item["image"] for item in blobs(16)]) * 2 - 1
    noise = torch.randn_like(x0)
    index = torch.randint(0, 1000, (16,))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    losses = []
    for _ in range(8):
        loss = hybrid_loss(model, process, x0, index, noise)["loss"].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.7 * losses[0], losses


def test_train_iddpm_writes_a_loadable_ema_file_and_resumes(tmp_path: Path) -> None:
    flags = iddpm_model_flags(**TINY, class_cond=True, dropout=0.1)
    train_set = blobs(64)
    torch.manual_seed(0)
    process = {**DIFFUSION, "steps": 4000}
    path = train_iddpm(flags, process, train_set, tmp_path, torch.device("cpu"), label_key="target", ema_rate=0.9,
                       epochs=2, batch_size=32)
    assert path == tmp_path / "ema_0.9_000004.pt"  # 2 epochs x 2 batches, named like the original's files
    model, facts = load_adm(path, flags=flags)
    assert facts["parameters"] == sum(p.numel() for p in build_adm(flags).parameters()) and model.num_classes == 10
    final = torch.load(tmp_path / "final.pth", weights_only=True)["state_dict"]
    weights = torch.load(path, weights_only=True)
    assert set(weights) == {key.removeprefix("model.") for key in final if key.startswith("model.")}
    assert all(torch.equal(weights[key], final["ema." + key]) for key in weights)
    assert any(not torch.equal(weights[key], final["model." + key]) for key in weights)  # an average, not a copy
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["train"]["lr"] == 1e-4 and record["train"]["optimizer_steps"] == 4
    assert record["train"]["lr_schedule"] == "constant" and record["flags"]["num_classes"] == 10
    assert record["training_process"] == {"steps": 4000, "respacing": "", "variance_type": "learned_range"}
    assert record["diffusion"]["rescale_timesteps"] is True  # filled in: sampling must feed t as training did
    backbone = build_backbone({"type": "adm", "checkpoint": str(path), "flags": record["flags"],
                               "diffusion": record["diffusion"]}, "50", torch.device("cpu"))
    x, t, y = torch.randn(2, 1, 8, 8), torch.tensor([980, 20]), torch.tensor([3, 4])
    with torch.no_grad():  # the record makes the sampler feed t * 1000 / T, as in training
        assert torch.equal(backbone.denoise(x, t, y), model(x, t.float() / 4, y))
        assert not torch.equal(backbone.denoise(x, t, y), model(x, t, y))
    before = path.stat().st_mtime_ns
    again = train_iddpm(flags, process, train_set, tmp_path, torch.device("cpu"), label_key="target", ema_rate=0.9,
                        epochs=2, batch_size=32)
    assert again == path and path.stat().st_mtime_ns == before  # finished: returned at once


def test_train_iddpm_rejects_inconsistent_settings(tmp_path: Path) -> None:
    flags = iddpm_model_flags(**TINY)
    data = blobs(8)
    cpu = torch.device("cpu")
    with pytest.raises(ValueError, match="needs epochs="):
        train_iddpm(flags, DIFFUSION, data, tmp_path, cpu)
    with pytest.raises(ValueError, match="num_classes=None but label_key='target'"):
        train_iddpm(flags, DIFFUSION, data, tmp_path, cpu, label_key="target", epochs=1)
    with pytest.raises(ValueError, match="num_classes=10 but label_key=None"):
        train_iddpm(iddpm_model_flags(**TINY, class_cond=True), DIFFUSION, data, tmp_path, cpu, epochs=1)
    with pytest.raises(ValueError, match=r"out_channels=2 but diffusion learn_sigma=False needs 1"):
        train_iddpm(flags, {**DIFFUSION, "learn_sigma": False}, data, tmp_path, cpu, epochs=1)
    with pytest.raises(ValueError, match="use_kl=True"):
        train_iddpm(flags, {**DIFFUSION, "use_kl": True}, data, tmp_path, cpu, epochs=1)
    with pytest.raises(ValueError, match=r"diffusion lacks \['noise_schedule'\]"):
        train_iddpm(flags, {"steps": 10}, data, tmp_path, cpu, epochs=1)
    assert not list(tmp_path.iterdir())  # nothing written before the settings are checked


def test_an_interrupted_training_resumes_to_the_same_ema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flags = iddpm_model_flags(**TINY, dropout=0.1)
    settings = dict(ema_rate=0.9, epochs=3, batch_size=16)
    torch.manual_seed(0)
    clean = train_iddpm(flags, DIFFUSION, blobs(32), tmp_path / "clean", torch.device("cpu"), **settings)
    update, calls = WithEMA.update, {"n": 0}

    def dying(self: WithEMA) -> None:
        calls["n"] += 1
        if calls["n"] > 3:  # dies in the second epoch (2 steps per epoch)
            raise KeyboardInterrupt("killed")
        update(self)

    monkeypatch.setattr(WithEMA, "update", dying)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train_iddpm(flags, DIFFUSION, blobs(32), tmp_path / "resumed", torch.device("cpu"), **settings)
    monkeypatch.setattr(WithEMA, "update", update)
    resumed = train_iddpm(flags, DIFFUSION, blobs(32), tmp_path / "resumed", torch.device("cpu"), **settings)
    a, b = torch.load(clean, weights_only=True), torch.load(resumed, weights_only=True)
    assert clean.name == resumed.name == "ema_0.9_000006.pt"
    assert all(torch.equal(a[key], b[key]) for key in a)
