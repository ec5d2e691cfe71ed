"""Demo-scale DDPM training: the ε-prediction loss and the pipeline folder the train stage leaves behind."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import Subset

pytest.importorskip("diffusers")

from bench.datasets.digits import Digits  # noqa: E402
from bench.methods.diffusion.training import ddpm_loss, train_ddpm  # noqa: E402
from bench.methods.diffusion.unet import load_scheduler_config, load_unet  # noqa: E402

UNET = dict(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(8, 16),
            down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
            norm_num_groups=4)
SCHEDULE = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02, clip_sample=False)


class PerfectModel(torch.nn.Module):
    """Predicts the noise exactly: knows x0 and ᾱ, so the loss must be zero (checks the forward-process algebra)."""

    def __init__(self, x0: torch.Tensor, alphas_cumprod: torch.Tensor) -> None:
        super().__init__()
        self.x0, self.alphas_cumprod = x0 * 2 - 1, alphas_cumprod

    def forward(self, noisy: torch.Tensor, t: torch.Tensor):
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        return type("Out", (), {"sample": (noisy - a.sqrt() * self.x0) / (1 - a).sqrt()})()


def test_ddpm_loss_is_zero_for_the_true_noise():
    from diffusers import DDPMScheduler

    torch.manual_seed(0)
    images = torch.rand(6, 1, 8, 8)
    alphas = DDPMScheduler(**SCHEDULE).alphas_cumprod
    assert float(ddpm_loss(PerfectModel(images, alphas), images, alphas)) < 1e-10


def test_train_ddpm_writes_a_loadable_pipeline_folder_and_resumes(tmp_path):
    torch.manual_seed(0)
    train_set = Subset(Digits(split="train"), range(64))
    folder = train_ddpm(UNET, SCHEDULE, train_set, tmp_path, torch.device("cpu"), epochs=2, batch_size=32, lr=1e-3)
    assert (folder / "model_index.json").is_file() and (folder / "training.json").is_file()
    unet, facts = load_unet(folder)
    assert facts["format"] == "diffusers_pipeline" and unet.config.sample_size == 8
    assert load_scheduler_config(folder)["beta_end"] == pytest.approx(0.02)
    trained = torch.load(tmp_path / "final.pth", weights_only=True)["state_dict"]
    assert all(torch.equal(trained[k], v) for k, v in unet.state_dict().items())
    assert train_ddpm(UNET, SCHEDULE, train_set, tmp_path, torch.device("cpu"), epochs=2) == folder  # finished


def test_random_flip_mirrors_each_image_with_its_own_coin_from_the_seeded_rng():
    from bench.methods.diffusion.training import flip_at_random

    images = torch.arange(2 * 3 * 4 * 1.0).view(2, 1, 3, 4).repeat(8, 1, 1, 1)  # 16 images, left-right asymmetric
    torch.manual_seed(3)
    coins = torch.rand(16) < 0.5
    torch.manual_seed(3)
    flipped = flip_at_random(images)
    for image, out, coin in zip(images, flipped, coins, strict=True):
        assert torch.equal(out, image.flip(-1) if coin else image)
    assert 0 < int(coins.sum()) < 16


def test_train_ddpm_takes_dtraks_flip_dropout_and_optimiser_recipe(tmp_path):
    """D-TRAK's train_unconditional.py: random flip, every Dropout at 0.1 (attention output too), AdamW betas
    (0.95, 0.999), cosine schedule with 10% warm-up, gradient clipping; training.json records the whole recipe (the
    counterfactual retrains by it), and the flip flag reaches the loss (the weights differ)."""
    from bench.methods.diffusion.training import set_dropout

    unet = dict(UNET, block_out_channels=(8, 8), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                up_block_types=("AttnUpBlock2D", "UpBlock2D"))
    train_set = Subset(Digits(split="train"), range(32))
    recipe = dict(epochs=1, batch_size=16, lr=1e-3, lr_schedule="cosine", warmup_fraction=0.1,
                  adam_betas=(0.95, 0.999), max_grad_norm=1.0, seed=0)
    weights = {}
    for flip in (False, True):
        torch.manual_seed(0)
        folder = train_ddpm(unet, SCHEDULE, train_set, tmp_path / str(flip), torch.device("cpu"), random_flip=flip,
                            dropout=0.1, **recipe)
        weights[flip] = torch.load(tmp_path / str(flip) / "final.pth", weights_only=True)["state_dict"]
    recorded = json.loads((folder / "training.json").read_text())
    assert {k: v for k, v in recorded.items() if k != "checkpoint"} == {
        **recipe, "adam_betas": [0.95, 0.999], "random_flip": True, "dropout": 0.1}
    assert any(not torch.equal(weights[False][k], weights[True][k]) for k in weights[False])
    from diffusers import UNet2DModel

    model = UNet2DModel(**unet, dropout=0.1)
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.0, 0.1}  # attention's stays 0
    set_dropout(model, 0.1)
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.1}
    with pytest.raises(ValueError, match=r"train_ddpm: dropout must be in \[0, 1\), got 1.0"):
        set_dropout(model, 1.0)
