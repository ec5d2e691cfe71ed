"""The memorization sampling loop on a tiny Stable Diffusion folder: images equal diffusers' pipeline from the same
latents, tracks equal the direct formula, BE's one-pass m′ equals the official second pass, the map ignores extra
UNet calls, and pixel-space folders load."""
from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from sd_fixture import write_tiny_stable_diffusion  # noqa: E402

from bench.methods.bright_ending.attention import EOSAttentionCapture, eos_index, install  # noqa: E402
from bench.methods.bright_ending.sampling import (SamplingSettings, encode_prompts, generate,  # noqa: E402
                                                  masked_tracks)
from bench.methods.diffusion.stable_diffusion import (PipelineLayoutError, is_pixel_space,  # noqa: E402
                                                      load_text_to_image)
from helpers import rounding_tolerance  # noqa: E402

SETTINGS = SamplingSettings(num_inference_steps=4, guidance_scale=7.5)


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    return write_tiny_stable_diffusion(tmp_path_factory.mktemp("sd"), cross_attention_first=True)


@pytest.fixture()
def model(sd_folder):
    return load_text_to_image(sd_folder)


def _embeds(model, prompt: str = "a cat") -> tuple[torch.Tensor, torch.Tensor]:
    return encode_prompts(model, [prompt]), encode_prompts(model, [""])


def test_images_equal_the_diffusers_pipeline_from_the_same_latents(sd_folder, model):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    cond, uncond = _embeds(model)
    ours = generate(model, cond, uncond, n=2, seed=5, settings=SETTINGS)
    pipe = StableDiffusionPipeline.from_pretrained(str(sd_folder), safety_checker=None, feature_extractor=None,
                                                   requires_safety_checker=False)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    latents = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(5))  # the documented draw
    theirs = pipe("a cat", num_inference_steps=4, guidance_scale=7.5, num_images_per_prompt=2, latents=latents,
                  output_type="pt").images
    expected = (theirs.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    assert ours.images.shape == (2, 16, 16, 3) and ours.images.dtype == torch.uint8
    # the same float32 arithmetic in the same order: at most one rounding step apart
    assert (ours.images.int() - expected.int()).abs().max() <= 1


def test_first_step_tracks_equal_the_direct_formula(model):
    cond, uncond = _embeds(model)
    gen = generate(model, cond, uncond, n=3, seed=1, settings=SETTINGS)
    scheduler = model.scheduler
    scheduler.set_timesteps(4)
    latents = torch.randn((3, 4, 8, 8), generator=torch.Generator().manual_seed(1)) * scheduler.init_noise_sigma
    t = scheduler.timesteps[0]
    with torch.no_grad():
        eps_u = model.unet(latents, t, encoder_hidden_states=uncond.expand(3, -1, -1)).sample
        eps_c = model.unet(latents, t, encoder_hidden_states=cond.expand(3, -1, -1)).sample
    direct = (eps_c - eps_u).flatten(1).norm(dim=1)
    assert gen.text_noise_norm.shape == (3, 4) and gen.uncond_noise_norm.shape == (3, 4)
    tol = rounding_tolerance(torch.float32, float(direct.max()), 256 * 8)
    assert (gen.text_noise_norm[:, 0] - direct).abs().max() <= tol
    assert (gen.uncond_noise_norm[:, 0] - eps_u.flatten(1).norm(dim=1)).abs().max() <= tol
    assert bool((gen.text_noise_norm > 0).all())


def test_one_pass_masked_magnitude_equals_the_official_second_pass(model):
    capture = EOSAttentionCapture(step=-1)
    install(model.unet, capture)
    cond, uncond = _embeds(model)
    eos = eos_index("a cat", model.tokenizer, max_tokens=model.tokenizer.model_max_length)
    first = generate(model, cond, uncond, n=2, seed=3, settings=SETTINGS, capture=capture, eos=eos,
                     keep_differences=True)
    assert first.eos_map.shape == (2, 8, 8)
    assert bool((first.eos_map > 0).all()) and bool((first.eos_map < 1).all())
    second = generate(model, cond, uncond, n=2, seed=3, settings=SETTINGS, capture=capture, eos=eos,
                      mask=first.eos_map[:, None])
    assert torch.equal(masked_tracks(first.differences, first.eos_map), second.masked_noise_norm)
    assert torch.equal(first.eos_map, second.eos_map) and torch.equal(first.images, second.images)


def test_the_map_ignores_extra_unet_calls_in_a_step_hook(model):
    capture = EOSAttentionCapture(step=-1)
    install(model.unet, capture)
    cond, uncond = _embeds(model)
    plain = generate(model, cond, uncond, n=1, seed=0, settings=SETTINGS, capture=capture, eos=3)
    calls = []

    def hook(i, t, latents, c, u):  # noqa: ANN001, ANN202 - an extra UNet call per step, as guidance methods do
        model.unet(latents, t, encoder_hidden_states=c)
        calls.append(i)
        return c
    hooked = generate(model, cond, uncond, n=1, seed=0, settings=SETTINGS, capture=capture, eos=3, before_step=hook)
    assert calls == [0, 1, 2, 3]
    assert torch.equal(plain.eos_map, hooked.eos_map) and torch.equal(plain.images, hooked.images)


def test_pixel_space_folder_loads_and_samples(tmp_path, sd_folder):
    from diffusers import UNet2DConditionModel

    full = load_text_to_image(sd_folder)
    folder = tmp_path / "pixels"
    torch.manual_seed(0)
    UNet2DConditionModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16), layers_per_block=1,
                         down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                         attention_head_dim=4, norm_num_groups=4).save_pretrained(str(folder / "unet"))
    full.text_encoder.save_pretrained(str(folder / "text_encoder"))
    full.tokenizer.save_pretrained(str(folder / "tokenizer"))
    full.scheduler.save_pretrained(str(folder / "scheduler"))
    index = {"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "scheduler": ["diffusers", "DDIMScheduler"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    assert is_pixel_space(folder) and not is_pixel_space(sd_folder)
    model = load_text_to_image(folder)
    assert model.vae is None and model.latent_scale == 1 and model.facts["format"] == "diffusers_pixel_space"
    assert "unet/diffusion_pytorch_model.safetensors" in model.facts["sha256"]
    cond, uncond = _embeds(model)
    gen = generate(model, cond, uncond, n=2, seed=0, settings=SETTINGS)
    assert gen.images.shape == (2, 8, 8, 3)  # one channel shown as grey RGB
    assert torch.equal(gen.images[..., 0], gen.images[..., 2])
    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(PipelineLayoutError, match=r"unet: no weights file"):
        load_text_to_image(folder)


def test_errors_name_the_fix(model):
    cond, uncond = _embeds(model)
    with pytest.raises(ValueError, match=r"capture needs the prompt's EOS column"):
        generate(model, cond, uncond, n=1, seed=0, settings=SETTINGS, capture=EOSAttentionCapture())
    with pytest.raises(ValueError, match=r"num_inference_steps must be a positive int"):
        SamplingSettings(num_inference_steps=0)
    with pytest.raises(ValueError, match=r"multiples of the VAE factor 2"):
        generate(model, cond, uncond, n=1, seed=0, settings=SamplingSettings(num_inference_steps=2, height=15))
