"""DPMs-ANT's training loops on tiny models: the ANT loop lowers the guided loss, trains only what it is given,
resumes exactly; the presets hold the paper's and the official config's values; the classifier stage separates a
toy pair of domains."""
from __future__ import annotations

import math

import pytest
import torch

from bench.checkpoint import CheckpointError
from bench.methods.diffusion.adm import ADMClassifier
from bench.methods.dpms_ant.objectives import ablation, ant_loss
from bench.methods.dpms_ant.training import (ClassifierSettings, ant_settings, cosine_lr, fixed_batch,
                                             linear_alphas_cumprod, train_ant, train_domain_classifier,
                                             two_class_head)

ALPHAS = linear_alphas_cumprod(1000)


class AdaptedMLP(torch.nn.Module):
    """A frozen MLP ε-model on 2-D points plus a zero-initialised residual adaptor (the trainable part)."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.base = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.SiLU(), torch.nn.Linear(32, 2))
        for p in self.base.parameters():
            p.data = torch.randn(p.shape, generator=gen) * 0.3
            p.requires_grad_(False)
        self.adaptor = torch.nn.Sequential(torch.nn.Linear(3, 32), torch.nn.SiLU(), torch.nn.Linear(32, 2))
        for p in self.adaptor[0].parameters():
            p.data = torch.randn(p.shape, generator=gen) * 0.3
        torch.nn.init.zeros_(self.adaptor[2].weight)
        torch.nn.init.zeros_(self.adaptor[2].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = torch.cat([x, (t.float() / 1000).view(-1, 1)], dim=1)
        return self.base(h) + self.adaptor(h)


class PointClassifier(torch.nn.Module):
    """Logits of 'source' (label 1) growing with x·(1, 1): the target domain sits at (−1, −1)."""

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        s = x.sum(dim=1, keepdim=True)
        return torch.cat([-s, s], dim=1)


def _settings(**overrides):
    base = dict(lr=3e-3, iterations=40, schedule_iterations=40, batch_size=16, warmup_iterations=4,
                warmup_lr=3e-4, min_lr=1.5e-3, objective=ablation("ant", ascent_steps=3), checkpoint_every=1)
    return ant_settings("official", **(base | overrides))


def _target_points() -> torch.Tensor:
    return torch.randn(10, 2, generator=torch.Generator().manual_seed(4)) * 0.2 - 1.0


def _guided_loss(model: torch.nn.Module, x0: torch.Tensor) -> float:
    torch.manual_seed(99)
    with torch.no_grad():
        return sum(float(ant_loss(model, x0, ALPHAS, ablation("ant_no_an"), PointClassifier()))
                   for _ in range(20)) / 20


def test_train_ant_lowers_the_guided_loss_and_trains_only_the_adaptor():
    model = AdaptedMLP()
    x0 = fixed_batch(_target_points(), 16)
    frozen = [p.clone() for p in model.base.parameters()]
    before = _guided_loss(model, x0)
    run = train_ant(model, list(model.adaptor.parameters()), PointClassifier(), x0, ALPHAS, _settings())
    after = _guided_loss(model, x0)
    assert after < 0.9 * before, (before, after)
    assert len(run.losses) == 40 and run.final is None
    for p, q in zip(model.base.parameters(), frozen, strict=True):
        assert torch.equal(p, q) and p.grad is None
    assert len(run.ema) == 4 and not torch.equal(run.ema[-1], model.adaptor[2].weight.detach())


def test_train_ant_resumes_exactly(tmp_path):
    x0 = fixed_batch(_target_points(), 16)
    settings = _settings(iterations=6, schedule_iterations=6)
    whole = AdaptedMLP()
    straight = train_ant(whole, list(whole.adaptor.parameters()), PointClassifier(), x0, ALPHAS, settings,
                         work_dir=tmp_path / "a")

    def stop(index: int, loss: float) -> None:
        if index == 2:
            raise KeyboardInterrupt

    first = AdaptedMLP()
    with pytest.raises(KeyboardInterrupt):
        train_ant(first, list(first.adaptor.parameters()), PointClassifier(), x0, ALPHAS, settings,
                  work_dir=tmp_path / "b", after_step=stop)
    torch.manual_seed(12345)  # a resumed run must not depend on the RNG state it starts in
    second = AdaptedMLP()
    resumed = train_ant(second, list(second.adaptor.parameters()), PointClassifier(), x0, ALPHAS, settings,
                        work_dir=tmp_path / "b")
    assert resumed.losses == straight.losses
    for p, q in zip(second.adaptor.parameters(), whole.adaptor.parameters(), strict=True):
        assert torch.equal(p, q)
    for p, q in zip(resumed.ema, straight.ema, strict=True):
        assert torch.equal(p, q)
    assert (tmp_path / "b" / "final.pth").is_file()


def test_resume_refuses_a_state_of_another_model(tmp_path):
    x0 = fixed_batch(_target_points(), 4)
    settings = _settings(iterations=1, schedule_iterations=1)
    model = AdaptedMLP()
    train_ant(model, list(model.adaptor.parameters()), PointClassifier(), x0, ALPHAS, settings, work_dir=tmp_path)
    with pytest.raises(CheckpointError, match=r"latest.pth holds 4 trainable tensors, this model has 2 .*delete it"):
        train_ant(model, list(model.adaptor[2].parameters()), PointClassifier(), x0, ALPHAS, settings,
                  work_dir=tmp_path)


def test_presets_hold_the_paper_and_official_values():
    official = ant_settings("official")
    assert (official.lr, official.iterations, official.schedule_iterations, official.batch_size) == (1e-4, 321, 500, 5)
    assert (official.warmup_iterations, official.warmup_lr, official.min_lr) == (50, 1e-5, 5e-5)
    assert (official.betas, official.weight_decay, official.clip_grad, official.ema_rate) == ((0.5, 0.999), 1e-2,
                                                                                             1.0, 0.9)
    o = official.objective
    assert (o.gamma, o.omega, o.ascent_steps, o.resample_t, o.guidance, o.adversarial) == (5.0, 0.02, 10, True,
                                                                                           True, True)
    paper, ldm = ant_settings("paper"), ant_settings("paper", "ldm")
    assert (paper.lr, paper.iterations, paper.batch_size, ldm.lr) == (5e-5, 300, 40, 1e-5)
    assert ant_settings("paper", lr=2e-5).lr == 2e-5
    with pytest.raises(ValueError, match=r"unknown DPMs-ANT preset 'offical'; choose one of \('paper', 'official'\)"):
        ant_settings("offical")


def test_official_schedule_is_cosine_with_warmup_on_the_unshifted_index():
    expected = {0: 1e-5, 25: 1e-5 + 25 * (1e-4 - 1e-5) / 50,
                50: 5e-5 + 0.5 * 5e-5 * (1 + math.cos(math.pi * 50 / 500)),
                320: 5e-5 + 0.5 * 5e-5 * (1 + math.cos(math.pi * 320 / 500)), 500: 5e-5, 700: 5e-5}
    for step, lr in expected.items():
        assert cosine_lr(step, 1e-4, 500, 50, 1e-5, 5e-5) == pytest.approx(lr, rel=1e-12)
    assert cosine_lr(320, 1e-4, 500, 50, 1e-5, 5e-5) == pytest.approx(6.4356e-5, abs=1e-9)  # lr at the hard stop


def test_fixed_batch_tiles_or_cuts_the_target_set():
    images = torch.arange(10.0).view(10, 1)
    forty = fixed_batch(images, 40)
    assert forty.shape == (40, 1) and torch.bincount(forty.long().view(-1)).tolist() == [4] * 10
    five = fixed_batch(images, 5)
    assert len(set(five.view(-1).tolist())) == 5
    with pytest.raises(ValueError, match="no target images"):
        fixed_batch(images[:0], 5)


def test_train_ant_refuses_guidance_without_a_classifier_and_empty_params():
    model, x0 = AdaptedMLP(), fixed_batch(_target_points(), 4)
    with pytest.raises(ValueError, match="classifier is None"):
        train_ant(model, list(model.adaptor.parameters()), None, x0, ALPHAS, _settings())
    with pytest.raises(ValueError, match="no trainable parameters"):
        train_ant(model, [], None, x0, ALPHAS, _settings(objective=ablation("adaptor_only")))


def _tiny_classifier() -> ADMClassifier:
    torch.manual_seed(0)
    return ADMClassifier(image_size=8, in_channels=3, model_channels=32, out_channels=1000, num_res_blocks=1,
                         attention_resolutions=(2,), channel_mult=(1, 2), num_head_channels=32,
                         use_scale_shift_norm=True, resblock_updown=True, pool="attention")


def test_two_class_head_replaces_the_attention_pool_projection():
    clf = two_class_head(_tiny_classifier())
    assert clf.out[2].c_proj.out_channels == 2 and clf.out_channels == 2
    assert clf(torch.randn(3, 3, 8, 8), torch.tensor([1, 2, 3])).shape == (3, 2)


def test_domain_classifier_learns_a_separable_toy(tmp_path):
    gen = torch.Generator().manual_seed(1)
    source = (0.6 + 0.1 * torch.randn(40, 3, 8, 8, generator=gen)).clamp(-1, 1)
    target = (-0.6 + 0.1 * torch.randn(10, 3, 8, 8, generator=gen)).clamp(-1, 1)
    clf = _tiny_classifier()
    run = train_domain_classifier(clf, source, target, ClassifierSettings(iterations=40, lr=2e-3, warmup_iterations=4,
                                                                          warmup_lr=2e-4, min_lr=2e-4),
                                  work_dir=tmp_path)
    assert clf.out_channels == 2 and len(run.losses) == 40
    assert sum(run.losses[-5:]) / 5 < 0.85 * sum(run.losses[:5]) / 5  # t near T stays a coin flip
    t = torch.full((20,), 50)
    x = torch.cat([source[:10], target])
    noised = ALPHAS[50].sqrt() * x + (1 - ALPHAS[50]).sqrt() * torch.randn(x.shape, generator=gen)
    with torch.no_grad():
        predicted = clf(noised, t).argmax(dim=1)
    assert predicted.tolist() == [1] * 10 + [0] * 10
    assert (tmp_path / "final.pth").is_file()
