"""Wen's prompt-embedding optimisation (plain and BE-masked loss) on a tiny seeded UNet, the prompt augmentations
RNA / RT / CWR against golden strings (single-stream replays and the official two-stream output), and GNI."""
from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest
import torch

from bench.methods.bright_ending.magnitude import masked_text_noise_norm
from bench.methods.bright_ending.mitigation import (PromptOptimization, augment_prompt, gaussian_noise_embedding,
                                                    optimization_loss, optimize_prompt_embedding, rt_vocabulary)
from helpers import rounding_tolerance

TOKENS, TEXT_DIM, LATENT, TIMESTEP = 16, 32, 8, 500


def tiny_unet():  # noqa: ANN201 - a UNet2DConditionModel
    """tests/sd_fixture.py's UNet with the cross-attention block first (as SD's down_blocks.0), seeded."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=LATENT, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_DIM, attention_head_dim=8, norm_num_groups=8).eval()


@pytest.fixture(scope="module")
def unet():  # noqa: ANN201
    return tiny_unet()


def inputs(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Latents (n, 4, 8, 8), conditional and unconditional embeddings (1, 16, 32)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 4, LATENT, LATENT, generator=g), torch.randn(1, TOKENS, TEXT_DIM, generator=g),
            torch.randn(1, TOKENS, TEXT_DIM, generator=g))


def cfg_predictions(unet, latents, cond, uncond) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """ε_c, ε_u from one plain CFG call, as the official builds it."""
    n = latents.shape[0]
    with torch.no_grad():
        eps = unet(torch.cat([latents] * 2), TIMESTEP,
                   encoder_hidden_states=torch.cat([uncond.expand(n, -1, -1), cond.expand(n, -1, -1)])).sample
    eps_u, eps_c = eps.chunk(2)
    return eps_c, eps_u


class TextRecorder(torch.nn.Module):
    """The UNet, recording the text batch of every call."""

    def __init__(self, unet) -> None:  # noqa: ANN001
        super().__init__()
        self.unet, self.texts = unet, []

    def forward(self, sample, timestep, encoder_hidden_states, **kwargs):  # noqa: ANN001, ANN201
        self.texts.append(encoder_hidden_states.detach().clone())
        return self.unet(sample, timestep, encoder_hidden_states=encoder_hidden_states, **kwargs)


def test_optimisation_lowers_wens_loss_and_freezes_bos(unet):
    latents, cond, uncond = inputs(2)
    settings = PromptOptimization(iters=4, target_loss=None, dtype="float32")
    recorder = TextRecorder(unet)
    embed, record = optimize_prompt_embedding(recorder, latents, TIMESTEP, cond, uncond, settings)
    # every call: [uncond, uncond, cond', cond'] with the BOS row of cond' the input's (gradient zeroed, weight decay
    # undone), the unconditional rows constant
    assert len(recorder.texts) == 4
    for text in recorder.texts:
        assert torch.equal(text[:2], uncond.expand(2, -1, -1)) and torch.equal(text[2], text[3])
        assert torch.equal(text[2:, 0], cond[:, 0].expand(2, -1))
    losses = record["losses"]
    assert record["iterations"] == 4 and len(losses) == 4 and not record["reached_target"]
    assert record["precision"] == "float32 weights"
    # the first loss is ‖ε_c − ε_u‖₂ over the whole batch of 2 generations (one norm, not a mean of two)
    eps_c, eps_u = cfg_predictions(unet, latents, cond, uncond)
    diff = (eps_c - eps_u).double().numpy()
    assert abs(losses[0] - float(np.sqrt((diff ** 2).sum()))) <= rounding_tolerance(torch.float32, losses[0], 600)
    assert losses[0] > 0.5 and all(losses[i + 1] < losses[i] for i in range(3)) and losses[-1] < 0.85 * losses[0]
    assert embed.shape == cond.shape and embed.dtype == torch.float32
    assert torch.equal(embed[:, 0], cond[:, 0])  # BOS untouched bit for bit (weight decay undone)
    moved = (embed - cond)[0, 1:].abs().amax(dim=1)
    assert bool((moved > 0.1).all())  # every other position (EOS and padding included) is learnable


def test_stopping_rule_stops_before_stepping(unet):
    latents, cond, uncond = inputs(1)
    full, record = optimize_prompt_embedding(unet, latents, TIMESTEP, cond, uncond,
                                             PromptOptimization(iters=3, target_loss=None, dtype="float32"))
    l0, l1, l2 = record["losses"]
    # target between the 2nd and 3rd loss: two steps, the third loss evaluated, no third step
    target = (l1 + l2) / 2
    two, early = optimize_prompt_embedding(unet, latents, TIMESTEP, cond, uncond,
                                           PromptOptimization(iters=10, target_loss=target, dtype="float32"))
    assert early == {"losses": [l0, l1, l2], "iterations": 2, "reached_target": True,
                     "precision": "float32 weights"}
    assert not torch.equal(two, full)  # full took a third step
    # target above the first loss: no step at all, the input returned bit for bit (a copy)
    same, none = optimize_prompt_embedding(unet, latents, TIMESTEP, cond, uncond,
                                           PromptOptimization(target_loss=l0 + 1e-3, dtype="float32"))
    assert none == {"losses": [l0], "iterations": 0, "reached_target": True, "precision": "float32 weights"}
    assert torch.equal(same, cond) and same is not cond
    # iters=0: no UNet call
    same, zero = optimize_prompt_embedding(unet, latents, TIMESTEP, cond, uncond, PromptOptimization(iters=0))
    assert zero["losses"] == [] and zero["iterations"] == 0 and torch.equal(same, cond)


def test_masked_loss_is_bright_endings_m_prime(unet):
    latents, cond, uncond = inputs(1, seed=2)
    mask = torch.rand(1, 1, LATENT, LATENT, generator=torch.Generator().manual_seed(3))
    settings = PromptOptimization(iters=2, target_loss=None, dtype="float32")
    _, record = optimize_prompt_embedding(unet, latents, TIMESTEP, cond, uncond, settings, mask=mask)
    eps_c, eps_u = cfg_predictions(unet, latents, cond, uncond)
    direct = masked_text_noise_norm(eps_c, eps_u, mask).item()
    plain = optimization_loss(eps_c, eps_u).item()
    assert abs(record["losses"][0] - direct) <= rounding_tolerance(torch.float32, direct, 8)
    assert abs(direct - plain) > 0.01 * plain  # the mask changes the loss
    assert record["losses"][1] < record["losses"][0]


def test_optimization_loss_pools_the_batch_like_the_official():
    g = torch.Generator().manual_seed(4)
    eps_c, eps_u = torch.randn(2, 4, 3, 3, generator=g), torch.randn(2, 4, 3, 3, generator=g)
    mask = torch.rand(2, 1, 3, 3, generator=g)
    d, m = (eps_c - eps_u).double().numpy(), mask.double().numpy()
    # BE 687-691: torch.norm(D * M) over the batch / torch.mean(M) over the batch
    direct = np.sqrt(((d * m) ** 2).sum()) / m.mean()
    got = optimization_loss(eps_c, eps_u, mask).item()
    assert abs(got - direct) <= rounding_tolerance(torch.float32, direct, 50)
    assert abs(optimization_loss(eps_c, eps_u).item() - np.sqrt((d ** 2).sum())) <= \
        rounding_tolerance(torch.float32, 20.0, 80)
    # hand case: ones over 1×4×2×2 with a one-pixel mask: ‖·‖ = 2, mean(M) = 1/4 -> 8
    ones, zeros = torch.ones(1, 4, 2, 2), torch.zeros(1, 4, 2, 2)
    assert optimization_loss(ones, zeros, torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])).item() == 8.0


def test_bfloat16_as_the_official_and_under_autocast(unet):
    latents, cond, uncond = inputs(1)
    settings = PromptOptimization(iters=2, target_loss=None)  # default dtype: bfloat16
    embed, record = optimize_prompt_embedding(unet, latents, TIMESTEP, cond, uncond, settings)
    assert record["precision"] == "bfloat16 autocast over float32 weights"
    assert embed.dtype == torch.float32 and torch.equal(embed[:, 0], cond[:, 0])
    assert record["losses"][-1] < record["losses"][0]
    bf16 = tiny_unet().to(torch.bfloat16)  # the official: bf16 weights, bf16 inputs, no autocast
    args = (latents.bfloat16(), TIMESTEP, cond.bfloat16(), uncond.bfloat16(), settings)
    embed, record = optimize_prompt_embedding(bf16, *args)
    assert record["precision"] == "bfloat16 weights" and embed.dtype == torch.bfloat16
    assert torch.equal(embed[:, 0], cond.bfloat16()[:, 0]) and record["losses"][-1] < record["losses"][0]
    with pytest.raises(ValueError, match=r"dtype float32 needs a float32 UNet, this one has bfloat16 weights; load "
                                         r"the UNet in float32 or set dtype='bfloat16'"):
        optimize_prompt_embedding(bf16, *args[:4], PromptOptimization(dtype="float32"))
    with pytest.raises(ValueError, match=r"dtype bfloat16 needs a UNet with bfloat16 weights .* this one has float16 "
                                         r"weights; load the UNet in bfloat16 for this stage"):
        optimize_prompt_embedding(tiny_unet().half(), *args)


def test_adamw_weight_decay_never_moves_a_bfloat16_value():
    """Why restoring BOS matches the official in bf16: x·(1 − lr·wd) = x·0.9995 rounds back to x (half a bf16 ulp
    is at least 2⁻⁹ ≈ 0.002 of x); in float32 it would shrink the official's BOS row by 0.05 % per step."""
    x = torch.randn(10000, generator=torch.Generator().manual_seed(5)) * 10
    assert torch.equal((x.bfloat16() * (1 - 0.05 * 0.01)), x.bfloat16())
    assert not torch.equal(x * (1 - 0.05 * 0.01), x)


def test_runs_under_no_grad_and_inference_mode(unet):
    latents, cond, uncond = inputs(1)
    settings = PromptOptimization(iters=1, target_loss=None, dtype="float32")
    with torch.no_grad():
        a, _ = optimize_prompt_embedding(unet, latents, TIMESTEP, cond, uncond, settings)
    with torch.inference_mode():
        latents_i, cond_i, uncond_i = (t.clone() for t in (latents, cond, uncond))
        b, _ = optimize_prompt_embedding(unet, latents_i, torch.tensor(TIMESTEP), cond_i, uncond_i, settings,
                                         scale_model_input=lambda x, t: x)
    assert torch.equal(a, b) and not torch.equal(a, cond)


def test_bad_knobs_and_shapes_are_rejected(unet):
    for kwargs, message in [({"lr": 0}, r"lr must be a finite number > 0, got 0"),
                            ({"lr": -1.0}, r"lr must be"), ({"iters": -1}, r"iters must be an integer >= 0, got -1"),
                            ({"dtype": "float16"}, r"dtype 'float16' is not one of bfloat16, float32"),
                            ({"target_step": -1}, r"target_step must be a denoising step index >= 0"),
                            ({"target_loss": math.nan}, r"target_loss must be finite or None")]:
        with pytest.raises(ValueError, match=message):
            PromptOptimization(**kwargs)
    latents, cond, uncond = inputs(2)
    settings = PromptOptimization(dtype="float32")
    with pytest.raises(ValueError, match=r"mask \(1, 1, 8, 8\) does not fit latents \(2, 4, 8, 8\); expected "
                                         r"\(2, 1, 8, 8\)"):
        optimize_prompt_embedding(unet, latents, TIMESTEP, cond, uncond, settings, mask=torch.ones(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"cond_embeds must be one prompt's embedding \(1, tokens, dim\), got "
                                         r"\(2, 16, 32\)"):
        optimize_prompt_embedding(unet, latents, TIMESTEP, cond.repeat(2, 1, 1), uncond, settings)
    with pytest.raises(ValueError, match=r"a mask has mean 0"):
        optimize_prompt_embedding(unet, latents, TIMESTEP, cond, uncond, settings, mask=torch.zeros(2, 1, 8, 8))


VOCAB = ["dog", "sky", "red", "tree"]


def test_augmentations_golden_with_one_stream():
    # Random(0): randrange(100000) = 50494, randint(0, 5) = 3, randrange(100000) = 5306, randint(0, 6) = 2
    r = random.Random(0)
    assert (r.randrange(100000), r.randint(0, 5), r.randrange(100000), r.randint(0, 6)) == (50494, 3, 5306, 2)
    prompt = "a photo of a cat"
    assert augment_prompt(prompt, "rand_numb_add", 2, random.Random(0)) == "a photo 5306 of 50494 a cat"
    # randrange(4) = 3 -> "tree" at 3, randrange(4) = 0 -> "dog" at 2
    assert augment_prompt(prompt, "rand_word_add", 2, random.Random(0), VOCAB) == "a photo dog of tree a cat"
    # CWR draws from the original words [red, fox, runs] only: randrange(3), randint(0, 3 + i) give (1, 3), (0, 2),
    # (2, 3): "fox" at 3, "red" at 2, "runs" at 3 (drawing from the grown list would give "fox" last)
    r = random.Random(0)
    assert [(r.randrange(3), r.randint(0, 3 + i)) for i in range(3)] == [(1, 3), (0, 2), (2, 3)]
    assert augment_prompt("red fox runs", "rand_word_repeat", 3, random.Random(0)) == "red fox red runs runs fox"
    for style in ("rand_numb_add", "rand_word_add", "rand_word_repeat"):
        for k in (0, 1, 4):
            out = augment_prompt(prompt, style, k, random.Random(7), VOCAB)
            assert out == augment_prompt(prompt, style, k, random.Random(7), VOCAB)
            added = Counter(out.split(" ")) - Counter(prompt.split(" "))
            assert len(out.split(" ")) == 5 + k and sum(added.values()) == k
            if style == "rand_word_repeat":
                assert set(added) <= set(prompt.split(" "))


def test_augmentations_reproduce_the_official_two_streams():
    """Golden strings from running Wen's ``optim_utils.prompt_augmentation`` (c8fe471) after ``set_random_seed(0)``
    (numpy seed 3, random seed 5), repeat_num 4; RT with a stand-in tokenizer decoding id i as ``w{i}``."""
    def run(style: str, vocabulary: list[str] | None = None) -> str:
        return augment_prompt("a photo of a cat", style, 4, random.Random(5), vocabulary, np.random.RandomState(3))

    assert run("rand_numb_add") == "a photo 67224 of a 77049 71530 cat 59011"
    assert run("rand_word_repeat") == "a photo a of a photo of cat a"
    assert run("rand_word_add", [f"w{i}" for i in range(49400)]) == "a photo w1688 of a w11513 w5994 cat w48056"


def test_augmentation_errors_and_rt_vocabulary(tmp_path):
    with pytest.raises(ValueError, match=r"unknown prompt augmentation style 'rand'; the styles are rand_numb_add "
                                         r"\(RNA\), rand_word_add \(RT\), rand_word_repeat \(CWR\)"):
        augment_prompt("a", "rand", 1, random.Random(0))
    with pytest.raises(ValueError, match=r"repeat_num must be an integer >= 0, got -1"):
        augment_prompt("a", "rand_numb_add", -1, random.Random(0))
    with pytest.raises(ValueError, match=r"pass vocabulary=rt_vocabulary\(pipeline.tokenizer\)"):
        augment_prompt("a", "rand_word_add", 1, random.Random(0))
    from sd_fixture import write_tokenizer_files
    from transformers import CLIPTokenizer

    write_tokenizer_files(tmp_path / "tok")
    words = rt_vocabulary(CLIPTokenizer.from_pretrained(str(tmp_path / "tok")))
    # ids 0, 1 are BOS/EOS (left out); letters alone, letters word-final (decoded alike), "at", "cat"
    assert len(words) == 54 and words[0] == "a" and words[-2:] == ["at", "cat"] and "<|endoftext|>" not in words


def test_gaussian_noise_embedding_scale_and_positions():
    embeds = torch.randn(4, 77, 32, generator=torch.Generator().manual_seed(6))  # a CFG batch of 2 generations
    std = 0.1
    noisy = gaussian_noise_embedding(embeds, std, torch.Generator().manual_seed(7))
    noise = (noisy - embeds).double()
    count = noise.numel()  # 9856 draws: the sample std's standard error is std/√(2·count) ≈ 0.7 % of std
    assert abs(noise.std().item() - std) <= 5 * std / math.sqrt(2 * count)
    assert abs(noise.mean().item()) <= 5 * std / math.sqrt(count)
    assert bool((noise != 0).all())  # every position of both halves, BOS included, as the official
    assert torch.equal(noisy, gaussian_noise_embedding(embeds, std, torch.Generator().manual_seed(7)))
    assert torch.equal(gaussian_noise_embedding(embeds, 0.0, torch.Generator()), embeds)
    assert gaussian_noise_embedding(embeds.bfloat16(), std, torch.Generator()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match=r"std must be a finite number >= 0, got -1.0"):
        gaussian_noise_embedding(embeds, -1.0, torch.Generator())
