"""The ArtBench LoRA fine-tune (methods/das/lora_train.py) on a tiny random Stable Diffusion folder: it lowers the
latent diffusion loss, changes only the adapters, saves them where latent_model reads them, resumes an interrupted
epoch exactly, and trains through DataAttribution's train stage."""
from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("peft")

from sd_fixture import write_tiny_artbench, write_tiny_stable_diffusion  # noqa: E402

from bench.methods.das.latent_model import load_latent_model  # noqa: E402
from bench.methods.das.lora_train import LORA_RECIPE, lora_recipe, train_lora  # noqa: E402

CPU = torch.device("cpu")
FAST = dict(epochs=3, batch_size=2, lr=3e-3, lr_schedule="constant", warmup_fraction=0.0, seed=1)


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    return write_tiny_stable_diffusion(tmp_path_factory.mktemp("sd"))


def _items(n: int = 4) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [{"image": torch.rand(3, 16, 16, generator=g), "caption": ("a cat", "a dog")[i % 2]} for i in range(n)]


def _lora(unet) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in unet.named_parameters() if "lora_" in n}


def _latent_loss(model, items) -> float:
    """The ground truth's loss of these items: fixed noise per timestep, timesteps 0, 50, ..., 950."""
    from bench.methods.das.features import encode_latent_batch
    from bench.tasks.attribution.ground_truth import diffusion_losses

    images = torch.stack([item["image"] for item in items])
    with torch.no_grad():
        batch = encode_latent_batch(model.vae, model.tokenizer, model.text_encoder, images,
                                    [item["caption"] for item in items])
    return float(diffusion_losses(model.unet, model.scheduler, batch, timesteps=range(0, 1000, 50)).mean())


class Stopping(torch.utils.data.Dataset):
    """The items, raising after ``stop_after`` reads, as a run killed in the middle of an epoch."""

    def __init__(self, items: list[dict], stop_after: int | None = None) -> None:
        self.items, self.stop_after, self.reads = items, stop_after, 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        self.reads += 1
        if self.stop_after is not None and self.reads > self.stop_after:
            raise KeyboardInterrupt("killed in the middle of an epoch")
        return self.items[index]


def test_training_lowers_the_loss_and_changes_only_the_adapters(sd_folder, tmp_path):
    items = _items()
    before = load_latent_model(sd_folder, lora_rank=4, lora_seed=1)
    base = {n: p.detach().clone() for n, p in before.unet.named_parameters() if "lora_" not in n}
    folder = train_lora(sd_folder, items, tmp_path / "w", CPU, lora_rank=4, caption_dropout=0.0, random_flip=False,
                        **{**FAST, "epochs": 12, "lr": 1e-2})
    assert sorted(p.name for p in folder.iterdir()) == ["pytorch_lora_weights.safetensors", "training.json"]
    trained = load_latent_model(sd_folder, folder, lora_rank=4, lora_seed=9)  # the format latent_model reads
    assert {n: torch.equal(p, base[n]) for n, p in trained.unet.named_parameters() if "lora_" not in n} == \
        {n: True for n in base}  # the base UNet bit-identical
    moved = {n: not torch.equal(p, _lora(before.unet)[n]) for n, p in _lora(trained.unet).items()}
    assert all(moved.values()) and len(moved) == 64
    start, end = _latent_loss(before, items), _latent_loss(trained, items)
    assert end < 0.95 * start, (start, end)  # measured 1.082 -> 1.004
    facts = json.loads((folder / "training.json").read_text())
    assert facts["steps"] == 24 and facts["precision_used"] == "fp32" and facts["lora_rank"] == 4
    assert facts["recipe"]["weight_decay"] == 1e-6 and len(facts["history"]) == 12
    # the finished folder is returned without training again
    assert train_lora(sd_folder, items, tmp_path / "w", CPU, lora_rank=4, **FAST) == folder


def test_resume_after_an_interrupted_epoch_equals_an_uninterrupted_run(sd_folder, tmp_path):
    from safetensors.torch import load_file

    items = _items()
    whole = train_lora(sd_folder, Stopping(items), tmp_path / "whole", CPU, lora_rank=4, **FAST)
    # 1 read checks the items, then 4 per epoch: killed during the second epoch's second batch
    with pytest.raises(KeyboardInterrupt):
        train_lora(sd_folder, Stopping(items, stop_after=1 + 4 + 3), tmp_path / "cut", CPU, lora_rank=4, **FAST)
    assert (tmp_path / "cut" / "latest.pth").is_file() and not (tmp_path / "cut" / "lora").exists()
    resumed = train_lora(sd_folder, Stopping(items), tmp_path / "cut", CPU, lora_rank=4, **FAST)
    first, second = (load_file(str(f / "pytorch_lora_weights.safetensors")) for f in (whole, resumed))
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)
    history = [json.loads((f / "training.json").read_text())["history"] for f in (whole, resumed)]
    assert history[0] == history[1]


def test_recipe_is_dtraks_and_bad_settings_are_named():
    assert {k: LORA_RECIPE[k] for k in ("epochs", "batch_size", "lr", "lr_schedule", "weight_decay",
                                         "max_grad_norm", "caption_dropout", "precision")} == {
        "epochs": 100, "batch_size": 64, "lr": 3e-4, "lr_schedule": "cosine", "weight_decay": 1e-6,
        "max_grad_norm": 1.0, "caption_dropout": 0.1, "precision": "fp16"}
    with pytest.raises(ValueError, match=r"train: unknown LoRA training setting\(s\) \['epoch'\]; the settings are "
                                         r"epochs, batch_size, .*Did you mean 'epochs'"):
        lora_recipe({"epoch": 3})
    with pytest.raises(ValueError, match=r"train.lr_schedule must be one of \['cosine', 'constant'\]"):
        lora_recipe({"lr_schedule": "cosin"})
    with pytest.raises(ValueError, match=r"train.precision must be one of fp32, fp16, bf16"):
        lora_recipe({"precision": "half"})
    with pytest.raises(ValueError, match=r"train.caption_dropout must be in \[0, 1\)"):
        lora_recipe({"caption_dropout": 1.0})


def test_data_attribution_train_stage_trains_the_lora_it_then_attributes(sd_folder, tmp_path):
    from bench.methods.das.adapter import DataAttribution
    from bench.registry import DATASETS

    root = write_tiny_artbench(tmp_path / "artbench", train_per_style=2, test_per_style=1)
    data = dict(type="ArtBench", root=str(root), subset="artbench2", size=16, train_size=4, val_size=2)
    adapter = DataAttribution(train_set={**data, "split": "train"}, model=str(sd_folder), pipeline="stable_diffusion",
                              lora_rank=4, method="das1", lam=0.5, feature_cache=str(tmp_path / "cache"),
                              num_timesteps=2, k=16, residual_timesteps=2, chunk_size=4, batch_size=4)
    folder = adapter.fit(DATASETS.build({**data, "split": "train"}), None, tmp_path / "train", CPU, **FAST)
    assert folder == tmp_path / "train" / "lora"
    adapter.use_checkpoint(folder)
    assert adapter.lora_weights == str(folder) and adapter.model == str(sd_folder)
    adapter.setup(CPU)
    assert adapter.facts["lora_weights"] == str(folder / "pytorch_lora_weights.safetensors")
