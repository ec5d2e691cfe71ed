"""AMG's text-conditional sampler and its guidance similarity: plain DDIM + CFG when off, the applied ε against the
guidance formulas with a hand-traced countdown, the dissimilarity term, and ∇_{x_t}σ through a VAE and a TorchScript
SSCD stand-in against finite differences."""
from __future__ import annotations

import inspect
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from bench.methods.amg.guidance import (ThresholdSchedule, combine_noise, deduplication_scale, despecification_scale,
                                        text_dissimilarity_weight)
from bench.methods.amg.reference_index import ReferenceIndex
from bench.methods.amg.similarity import ReferenceSimilarity, SimilarityResult
from bench.methods.amg.text_sampler import TextGuidanceSettings, generate_text_amg, guided_similarity
from bench.methods.bright_ending.sampling import SamplingSettings, encode_prompts, generate
from bench.methods.bright_ending.toy import build_scheduler, build_text_encoder, build_unet, write_caption_tokenizer
from bench.methods.diffusion.stable_diffusion import TextToImageModel
from bench.tasks.generation.extractors.sscd import SSCDFeatures

PROMPTS = ["a cat", "a dog", "a cat"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> TextToImageModel:
    """A random 8x8 one-channel pixel-space text-to-image model (the Bright Ending toy's builders)."""
    torch.manual_seed(0)
    tokenizer = write_caption_tokenizer(["a cat", "a dog"], tmp_path_factory.mktemp("tokenizer"))
    return TextToImageModel(build_unet(8).eval(), build_text_encoder(tokenizer).eval(), tokenizer, build_scheduler(),
                            None)


def draw(count: int, seed: int = 3) -> torch.Tensor:
    return torch.randn((count, 1, 8, 8), generator=torch.Generator().manual_seed(seed), dtype=torch.float32)


class FixedGuide:
    """σ = ``base`` per sample (+ ``coef`` · mean of the image, for a known gradient); the duplicated captions on the
    first call only (the sampler must keep them)."""

    def __init__(self, base: list[float], captions: list[str | None] | None = None, coef: float = 0.0) -> None:
        self.base, self.captions, self.coef, self.calls = torch.tensor(base), captions, coef, 0

    def __call__(self, images: torch.Tensor, neighbours: int, dup_caption_min_count: int) -> SimilarityResult:
        assert len(images) == len(self.base)  # every sample is active in these runs: σ₂ is taken on the full batch
        sigma = self.base + self.coef * images.flatten(1).mean(1) + 0 * images.sum()
        captions = self.captions if self.calls == 0 and self.captions else [None] * len(images)
        self.calls += 1
        return SimilarityResult(sigma, torch.zeros(len(images), dtype=torch.long), list(captions))


def spy_steps(model: TextToImageModel, monkeypatch: pytest.MonkeyPatch) -> list[tuple[torch.Tensor, int, torch.Tensor]]:
    """Record (ε given to the DDIM step, timestep, x_t) of every step."""
    calls: list[tuple[torch.Tensor, int, torch.Tensor]] = []
    original = model.scheduler.step

    def step(model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, **kwargs: Any) -> Any:
        calls.append((model_output.clone(), int(timestep), sample.clone()))
        return original(model_output, timestep, sample, **kwargs)

    monkeypatch.setattr(model.scheduler, "step", step)
    return calls


def test_all_terms_off_or_no_guide_is_plain_ddim_cfg(toy: TextToImageModel) -> None:
    plain = generate(toy, encode_prompts(toy, PROMPTS), encode_prompts(toy, [""]), 3, 3,
                     SamplingSettings(num_inference_steps=4))
    for guide, flags in ((None, {}), (FixedGuide([0.9] * 3), {"g_spe": False, "g_dup": False, "g_sim": False})):
        settings = TextGuidanceSettings(num_inference_steps=4, **flags)
        result = generate_text_amg(toy, PROMPTS, draw(3), settings, guide)
        assert torch.equal(result.images, plain.images)
        assert result.images.dtype == torch.uint8 and result.images.shape == (3, 8, 8, 3)
        assert torch.isnan(result.similarity_before).all() and result.spe_steps.tolist() == [0, 0, 0]
    # GNI's path: perturbed prompt embeddings replace the encoded prompts
    noisy = encode_prompts(toy, PROMPTS) + 0.1 * torch.randn(3, 16, 32, generator=torch.Generator().manual_seed(0))
    reference = generate(toy, noisy, encode_prompts(toy, [""]), 3, 3, SamplingSettings(num_inference_steps=4))
    result = generate_text_amg(toy, PROMPTS, draw(3), TextGuidanceSettings(num_inference_steps=4), None,
                               prompt_embeds=noisy)
    assert torch.equal(result.images, reference.images)


def unet_eps(model: TextToImageModel, x: torch.Tensor, t: int, texts: list[torch.Tensor]) -> list[torch.Tensor]:
    """ε of x (one sample, repeated per text; or one row per text) under each text embedding, in one UNet call."""
    x = x.expand(len(texts), -1, -1, -1) if len(x) == 1 else x
    with torch.no_grad():
        out = model.unet(x, t, encoder_hidden_states=torch.cat(texts), return_dict=False)[0]
    return list(out.chunk(len(texts)))


def test_applied_eps_follows_the_formulas_and_the_countdown(toy: TextToImageModel,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # 12 steps: t = 914, 831, 748, ..., 1; λ_t = 0.3 + 0.1 exp(-0.005 t) is below 0.302 at t = 914 and 831 (steps
    # 0-1) only. Sample 0: σ 0.302 and a duplicated caption (found at step 0, kept): deduplication triggers at steps
    # 0-1, the countdown keeps it on for 9 more steps (2-10), off at 11. Sample 1: same σ, no caption: never.
    # Sample 2: σ 0.5, a caption: every step. Despecification applies at every step (σ > 0, whatever λ_t);
    # dissimilarity while σ > λ_t. No base_count gate: the first samples of a fresh run are guided.
    assert "base_count" not in inspect.signature(generate_text_amg).parameters
    calls = spy_steps(toy, monkeypatch)
    kept: list[Any] = ["a dog", None, "a cat"]
    guide = FixedGuide([0.302, 0.302, 0.5], kept)
    result = generate_text_amg(toy, PROMPTS, draw(3), TextGuidanceSettings(num_inference_steps=12), guide)
    assert result.dup_steps.tolist() == [11, 0, 12]
    assert result.sim_steps.tolist() == [2, 2, 12]
    assert result.spe_steps.tolist() == [12, 12, 12]
    assert result.dup_caption == kept
    assert guide.calls == 24  # σ₁ and σ₂ at every step
    assert torch.allclose(result.similarity_before, torch.tensor([0.302, 0.302, 0.5])[:, None].expand(3, 12))
    assert [t for _, t, _ in calls] == list(range(914, 0, -83))
    cond, uncond = encode_prompts(toy, PROMPTS), encode_prompts(toy, [""])
    captions = {c: encode_prompts(toy, [c]) for c in ("a dog", "a cat")}
    sigma = torch.tensor([0.302, 0.302, 0.5])
    s1 = despecification_scale(sigma, 7.5, 13.0)
    s2 = deduplication_scale(sigma, 7.5, s1, 0.3)
    for i, (applied, t, x_t) in enumerate(calls):
        dedup = [True, False, True] if i <= 10 else [False, False, True]
        texts = [[uncond, cond[b:b + 1]] + ([captions[kept[b]]] if dedup[b] else []) for b in range(3)]
        eps = unet_eps(toy, torch.cat([x_t[b:b + 1].expand(len(texts[b]), -1, -1, -1) for b in range(3)]), t,
                       [e for row in texts for e in row])
        start = 0
        for b in range(3):
            parts = eps[start:start + len(texts[b])]
            start += len(texts[b])
            expected = (combine_noise(parts[0], parts[1], 7.5, s1[b:b + 1], parts[2], s2[b:b + 1]) if dedup[b]
                        else combine_noise(parts[0], parts[1], 7.5, s1[b:b + 1]))
            assert torch.allclose(applied[b:b + 1], expected, atol=1e-5, rtol=1e-4), (i, b)
    # σ ≤ 0: the code's gate, nothing applies (the images are the plain ones)
    negative = generate_text_amg(toy, PROMPTS[:1], draw(1), TextGuidanceSettings(num_inference_steps=4),
                                 FixedGuide([-0.05], ["a dog"]))
    plain = generate_text_amg(toy, PROMPTS[:1], draw(1), TextGuidanceSettings(num_inference_steps=4), None)
    assert torch.equal(negative.images, plain.images)
    assert (negative.spe_steps.item(), negative.dup_steps.item(), negative.sim_steps.item()) == (0, 0, 0)
    assert torch.isnan(negative.similarity_after).all()


def test_dissimilarity_term_is_the_weighted_gradient(toy: TextToImageModel, monkeypatch: pytest.MonkeyPatch) -> None:
    # σ = 0.5 + coef · mean(x̂₀) in pixel space: ∇_{x_t}σ = coef / (64 √ᾱ_t) on every pixel
    coef = 1e-3
    calls = spy_steps(toy, monkeypatch)
    settings = TextGuidanceSettings(num_inference_steps=5, g_dup=False, schedule=ThresholdSchedule("none"))
    result = generate_text_amg(toy, PROMPTS[:1], draw(1), settings, FixedGuide([0.5], coef=coef))
    assert result.sim_steps.tolist() == [5] and result.dup_steps.tolist() == [0]
    cond, uncond = encode_prompts(toy, PROMPTS[:1]), encode_prompts(toy, [""])
    for i, (applied, t, x_t) in enumerate(calls):
        alpha = float(toy.scheduler.alphas_cumprod[t])
        e_u, e_p = unet_eps(toy, x_t, t, [uncond, cond])
        sigma1, sigma2 = result.similarity_before[:, i], result.similarity_after[:, i]
        assert sigma1 != sigma2  # σ₂ is taken again with the despecified ε
        weight = text_dissimilarity_weight(sigma2, torch.tensor([float(t)]), torch.tensor([math.sqrt(1 - alpha)]),
                                           100.0)
        expected = (combine_noise(e_u, e_p, 7.5, despecification_scale(sigma1, 7.5, 13.0))
                    + weight * coef / (64 * math.sqrt(alpha)))
        assert torch.allclose(applied, expected, atol=1e-5, rtol=1e-4), i


class TinySSCD(torch.nn.Module):
    """A stand-in for ``sscd_disc_mixup.torchscript.pt``: conv, tanh, pooling, linear, L2 norm (smooth, so finite
    differences apply)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 8, stride=8)
        self.head = torch.nn.Linear(24, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(torch.tanh(self.conv(x)), 2).flatten(1)
        return F.normalize(self.head(pooled), dim=1)


def test_sscd_guidance_gradient_matches_finite_differences(tmp_path: Path) -> None:
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated; SSCD ships in this format
        torch.jit.save(torch.jit.script(TinySSCD().eval()), str(tmp_path / "sscd_disc_mixup.torchscript.pt"))
    sscd = SSCDFeatures(str(tmp_path / "sscd_disc_mixup.torchscript.pt"), preprocessing="amg")
    rng = np.random.default_rng(0)
    (tmp_path / "ref").mkdir()
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(tmp_path / "ref" / f"{i}.png")
    guide = ReferenceSimilarity(ReferenceIndex(tmp_path / "ref", sscd, sscd), input_size=224)
    vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",),
                        block_out_channels=(8,), latent_channels=4, norm_num_groups=4, sample_size=8).eval()
    model = TextToImageModel(None, None, None, None, vae)
    latents, eps = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    settings = TextGuidanceSettings(neighbours=4)
    result, grad = guided_similarity(model, guide, latents, eps, 0.3, settings, with_grad=True)
    assert grad is not None and grad.shape == latents.shape and grad.abs().sum() > 0
    direction = torch.randn(2, 4, 8, 8)
    h = 1e-2
    plus, _ = guided_similarity(model, guide, latents + h * direction, eps, 0.3, settings, with_grad=False)
    minus, _ = guided_similarity(model, guide, latents - h * direction, eps, 0.3, settings, with_grad=False)
    assert torch.equal(plus.neighbour, result.neighbour) and torch.equal(minus.neighbour, result.neighbour)
    numeric = (plus.similarity - minus.similarity) / (2 * h)
    analytic = (grad * direction).flatten(1).sum(1)
    assert torch.allclose(numeric, analytic, rtol=2e-2, atol=1e-5), (numeric, analytic)
    # σ is the dot product with n₀'s descriptor, n₀ the best of the retrieved candidates
    with torch.no_grad():
        x0 = (latents - math.sqrt(0.7) * eps) / math.sqrt(0.3)
        image = vae.decode(x0 / vae.config.scaling_factor, return_dict=False)[0]
        descriptor = sscd.embed(F.interpolate(image, size=(224, 224), mode="bilinear", align_corners=False))
    best = (descriptor @ guide.index.similarity_embeddings.T).max(dim=1)
    assert torch.allclose(result.similarity, best.values, atol=1e-6)


class RecordingGuide:
    """Keeps the images it is given; σ 0."""

    def __init__(self) -> None:
        self.images: list[torch.Tensor] = []

    def __call__(self, images: torch.Tensor, neighbours: int, dup_caption_min_count: int) -> SimilarityResult:
        self.images.append(images.detach().clone())
        return SimilarityResult(torch.zeros(len(images)), torch.zeros(len(images), dtype=torch.long),
                                [None] * len(images))


def test_decoded_range_and_bad_settings(toy: TextToImageModel) -> None:
    latents, eps = torch.randn(2, 1, 8, 8), torch.randn(2, 1, 8, 8)
    x0 = (latents - math.sqrt(0.75) * eps) / math.sqrt(0.25)
    pixel_model = TextToImageModel(None, None, None, None, None)
    for decoded_range, expected in (("raw", x0), ("unit", x0 / 2 + 0.5)):
        guide = RecordingGuide()
        guided_similarity(pixel_model, guide, latents, eps, 0.25, TextGuidanceSettings(decoded_range=decoded_range),
                          with_grad=False)
        assert torch.allclose(guide.images[0], expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"decoded_range must be one of \('raw', 'unit'\), got 'zero_one'"):
        TextGuidanceSettings(decoded_range="zero_one")
    with pytest.raises(ValueError, match="schedule must be a ThresholdSchedule with above=True"):
        TextGuidanceSettings(schedule=ThresholdSchedule(above=False))
    with pytest.raises(ValueError, match="2 prompts for 3 latents"):
        generate_text_amg(toy, PROMPTS[:2], draw(3), TextGuidanceSettings(num_inference_steps=2), None)
    from diffusers import EulerDiscreteScheduler

    euler = TextToImageModel(toy.unet, toy.text_encoder, toy.tokenizer, EulerDiscreteScheduler(), None)
    with pytest.raises(ValueError, match="AMG's loop is DDIM .* scheduler is EulerDiscreteScheduler"):
        generate_text_amg(euler, PROMPTS, draw(3), TextGuidanceSettings(num_inference_steps=2), None)
