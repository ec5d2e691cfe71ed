"""The AMG adapters: AMGPixelSampler (train stage → EMA checkpoint → guided sampling, settings, errors) and
AMGTextSampler (per-prompt seeds, plain = the sampler without guide, guidance against a local reference folder,
Main/Strong, the prompt baselines)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.methods.amg import AMGPixelSampler, AMGTextSampler
from bench.methods.amg.pixel_adapter import pixel_settings
from bench.methods.amg.text_adapter import text_settings

FLAGS = dict(kind="diffusion", image_size=8, in_channels=1, model_channels=32, out_channels=2, num_res_blocks=1,
             attention_resolutions=(), dropout=0.0, channel_mult=(1, 2), num_heads=1, use_scale_shift_norm=True)
DIFFUSION = dict(steps=100, noise_schedule="cosine", learn_sigma=True, rescale_timesteps=True)
POOL = dict(type="DigitsDuplicated", num_duplicated=2, copies=4, train_size=40, val_size=20, seed=0)


def test_pixel_settings_named_and_checked():
    main, strong = pixel_settings({"setting": "main"}), pixel_settings({"setting": "strong", "schedule": "constant"})
    assert (main.classifier_scale * main.factor, strong.classifier_scale * strong.factor) == (80000.0, 160000.0)
    assert main.schedule.kind == "dynamic" and main.schedule.value(0) == pytest.approx(1.5)
    assert strong.schedule.kind == "constant" and strong.schedule.value(10) == 1.5 and not strong.schedule.above
    with pytest.raises(ValueError, match=r"unknown guidance keys \['c3'\]"):
        pixel_settings({"c3": 3.0})
    with pytest.raises(ValueError, match="setting must be one of"):
        pixel_settings({"setting": "extreme"})
    with pytest.raises(ValueError, match="guidance needs 'neighbours'"):
        AMGPixelSampler(model_flags=FLAGS, diffusion=DIFFUSION, guidance={})
    with pytest.raises(ValueError, match="exactly one of 'backbone'"):
        AMGPixelSampler(guidance=None)


def test_pixel_sampler_trains_loads_and_guides(tmp_path, monkeypatch):
    from bench.registry import DATASETS

    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path / "results"))
    train_set = DATASETS.build(dict(POOL))
    plain = AMGPixelSampler(model_flags=FLAGS, diffusion=DIFFUSION, respacing="5", rounding="nearest")
    torch.manual_seed(0)
    checkpoint = plain.fit(train_set, None, tmp_path / "train", torch.device("cpu"), epochs=1, batch_size=16,
                           ema_rate=0.9)
    assert checkpoint.name.startswith("ema_0.9_") and checkpoint.is_file()
    assert plain.fit(train_set, None, tmp_path / "train", torch.device("cpu"), epochs=1, batch_size=16,
                     ema_rate=0.9) == checkpoint  # a finished model is returned at once
    plain.use_checkpoint(checkpoint)
    plain.setup(torch.device("cpu"))
    batch, seeds = {"class_label": torch.full((3,), -1)}, torch.tensor([11, 12, 13])
    with torch.inference_mode():  # as the runner calls it
        out = plain.predict(batch, seeds)
        again = plain.predict({"class_label": torch.full((1,), -1)}, seeds[1:2])
    assert out["image"].shape == (3, 8, 8, 1) and out["image"].dtype == torch.uint8
    assert torch.equal(again["image"][0], out["image"][1])  # a sample depends on its seed, not its batch
    assert out["model_forwards"].tolist() == [5, 5, 5] and out["guided_steps"].tolist() == [0, 0, 0]
    # guidance everywhere: every sample checks and moves at every step, and the images change
    guided = AMGPixelSampler(model_flags=FLAGS, diffusion=DIFFUSION, respacing="5", rounding="nearest",
                             neighbours={"pool": POOL, "dedup": 1.0}, guidance={"schedule": "none"})
    guided.use_checkpoint(checkpoint)
    guided.setup(torch.device("cpu"))
    with torch.inference_mode():
        moved = guided.predict(batch, seeds)
    assert moved["guided_steps"].tolist() == [5, 5, 5] and moved["amg_trigger_step"].tolist() == [4, 4, 4]
    assert not torch.equal(moved["image"], out["image"])
    facts = guided.provenance()
    assert facts["pool"]["size_after"] <= facts["pool"]["size_before"] == 40 + 2 * 3
    assert facts["guidance"]["schedule"]["kind"] == "none" and not facts["strong_c3_is_our_choice"]


def _reference_folder(root: Path) -> Path:
    """Four captioned 8x8 images in img2dataset's files layout; two share the caption 'a cat'."""
    shard = root / "00000"
    shard.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, caption in enumerate(["a cat", "a cat", "a dog", "a bird"]):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(shard / f"{i:09d}.png")
        (shard / f"{i:09d}.txt").write_text(caption, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def toy():
    from bench.methods.bright_ending.toy import build_scheduler, build_text_encoder, build_unet, write_caption_tokenizer
    from bench.methods.diffusion.stable_diffusion import TextToImageModel

    torch.manual_seed(0)
    import tempfile

    tokenizer = write_caption_tokenizer(["a cat", "a dog", "a bird"], Path(tempfile.mkdtemp()))
    return TextToImageModel(build_unet(8).eval(), build_text_encoder(tokenizer).eval(), tokenizer, build_scheduler(),
                            None)


def _sampler(toy, **kwargs) -> AMGTextSampler:
    sampler = AMGTextSampler(model="unused", num_images=2, num_inference_steps=3, **kwargs)
    sampler.components = toy  # setup() would load the same components from a folder
    return sampler


BATCH = {"prompt": ["a cat", "a dog"], "row": torch.tensor([0, 1]), "label": torch.tensor([1, 0])}


def test_text_sampler_plain_equals_the_unguided_loop(toy):
    from bench.methods.amg.text_sampler import generate_text_amg

    out = _sampler(toy, gen_seed=5).predict(BATCH, torch.tensor([0, 1]))
    assert out["image"].shape == (2, 2, 8, 8, 3) and out["prompt"] == ["a cat", "a dog"]
    latents = torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(5 + 1))
    reference = generate_text_amg(toy, ["a dog"] * 2, latents, text_settings(None, 3, 7.5), None)
    assert torch.equal(out["image"][1], reference.images)  # row 1: seed gen_seed + row
    assert out["guided_steps"].sum() == 0 and torch.isnan(out["amg_similarity_before"]).all()


def test_text_sampler_guides_against_a_reference_folder(toy, tmp_path):
    reference = dict(folder=str(_reference_folder(tmp_path / "ref")), retrieval=dict(type="PixelCorrelationFeatures"),
                     similarity=dict(type="PixelCorrelationFeatures"), input_size=None, cache_dir=str(tmp_path))
    sampler = _sampler(toy, guidance=dict(setting="strong", dup_caption_min_count=2, neighbours=4),
                       reference=reference)
    assert sampler.settings.c3 == 200.0
    sampler.guide = sampler._build_guide(torch.device("cpu"))
    out = sampler.predict(BATCH, torch.tensor([0, 1]))
    assert out["amg_similarity_before"].shape == (2, 2, 3) and torch.isfinite(out["amg_similarity_before"]).all()
    assert ((out["amg_neighbour"] >= 0) & (out["amg_neighbour"] < 4)).all()
    facts = sampler.provenance()
    assert facts["reference"]["reference"] == "proxy" and facts["strong_c3_is_our_choice"]
    assert "dropped" in facts["base_count_gate"]
    plain = _sampler(toy).predict(BATCH, torch.tensor([0, 1]))
    positive = out["amg_similarity_before"][..., 0] > 0  # guidance starts where the first σ is positive
    changed = (out["image"] != plain["image"]).flatten(2).any(-1)
    assert torch.equal(changed[~positive], torch.zeros_like(changed[~positive]))
    assert changed[positive].all()


def test_text_baselines_change_prompt_or_embedding(toy):
    augmented = _sampler(toy, baseline=dict(type="prompt_augmentation", style="rand_numb_add", repeat_num=2))
    out = augmented.predict(BATCH, torch.tensor([0, 1]))
    words = out["prompt"][0].split()  # numbers inserted among the prompt's words
    assert len(words) == 4 and [w for w in words if not w.isdigit()] == ["a", "cat"]
    noisy = _sampler(toy, baseline=dict(type="embedding_noise", std=0.5)).predict(BATCH, torch.tensor([0, 1]))
    assert not torch.equal(noisy["image"], _sampler(toy).predict(BATCH, torch.tensor([0, 1]))["image"])
    with pytest.raises(ValueError, match="baseline.type must be one of"):
        _sampler(toy, baseline=dict(type="prompt_optimization"))
    with pytest.raises(ValueError, match="guidance needs 'reference'"):
        AMGTextSampler(guidance=dict(setting="main"))
    with pytest.raises(ValueError, match=r"unknown guidance keys \['cfg_scale'\]"):
        AMGTextSampler(guidance=dict(cfg_scale=3.0))
