"""The Bright Ending capture on a tiny UNet2DConditionModel: hidden states bit-identical to diffusers' processors,
probabilities that are a softmax, the EOS column for several prompt lengths, a map independent of extra UNet calls
and of the head count, and install / uninstall."""
from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import torch

from bench.methods.bright_ending.attention import (EOSAttentionCapture, EOSAttnProcessor, attention_probs,
                                                   cross_attention_layers, eos_index, install, uninstall)
from helpers import rounding_tolerance

TOKENS, TEXT_DIM, LATENT = 77, 12, 8
LAYERS = ["down_blocks.0.attentions.0.transformer_blocks.0.attn2",
          "down_blocks.0.attentions.1.transformer_blocks.0.attn2"]


def tiny_unet(heads: int, first_block: str = "CrossAttnDownBlock2D"):  # noqa: ANN201 - a UNet2DConditionModel
    """8×8×4 latents, 8 channels in down_blocks.0 (two transformer layers, like SD v1.x), ``heads`` heads."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    up = "CrossAttnUpBlock2D" if first_block == "CrossAttnDownBlock2D" else "UpBlock2D"
    return UNet2DConditionModel(sample_size=LATENT, in_channels=4, out_channels=4, layers_per_block=2,
                                block_out_channels=(8, 16), down_block_types=(first_block, "DownBlock2D"),
                                up_block_types=("UpBlock2D", up), cross_attention_dim=TEXT_DIM,
                                attention_head_dim=heads, norm_num_groups=4).eval()


@pytest.fixture(scope="module")
def unet():  # noqa: ANN201
    return tiny_unet(heads=2)


def cfg_inputs(seed: int, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """A CFG batch [unconditional, conditional] of ``n`` generations: latents (2n, 4, 8, 8), text (2n, 77, 12)."""
    g = torch.Generator().manual_seed(seed)
    latents = torch.randn(n, 4, LATENT, LATENT, generator=g)
    text = torch.randn(2 * n, TOKENS, TEXT_DIM, generator=g)
    return torch.cat([latents] * 2), text


def reference_map(unet, latents, text, timestep, eos) -> torch.Tensor:  # noqa: ANN001
    """The BE map from the layers' inputs and weights by the plain formula softmax(QKᵀ/√d) per head (no diffusers
    attention code): conditional half, EOS column, mean over heads, then over layers."""
    inputs = {}
    modules = dict(unet.named_modules())
    hooks = [modules[name].register_forward_pre_hook(
        lambda m, a, kw, name=name: inputs.__setitem__(name, (a[0], kw["encoder_hidden_states"])), with_kwargs=True)
        for name in LAYERS]
    with torch.no_grad():
        unet(latents, timestep, encoder_hidden_states=text)
    for hook in hooks:
        hook.remove()
    n = latents.shape[0] // 2
    per_layer = []
    for name in LAYERS:
        attn, (hidden, context) = modules[name], inputs[name]
        q = attn.to_q(hidden[n:]).unflatten(-1, (attn.heads, -1)).transpose(1, 2)  # (n, heads, queries, d)
        k = attn.to_k(context[n:]).unflatten(-1, (attn.heads, -1)).transpose(1, 2)
        probs = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
        per_layer.append(torch.stack([probs[i, :, :, eos[i]].mean(0) for i in range(n)]))
    return torch.stack(per_layer).mean(0).reshape(n, 1, LATENT, LATENT)


def captured_map(unet, latents, text, eos, steps=3, step=-1, extra_calls=False) -> torch.Tensor:  # noqa: ANN001
    """Run ``steps`` UNet calls (step i sees ``latents + i``) under the capture; with ``extra_calls`` also an
    unrecorded pass at every step and a second recorded-window pass at every step but the captured one."""
    capture = EOSAttentionCapture(step=step)
    previous = install(unet, capture)
    capture.start(eos, num_steps=steps)
    try:
        with torch.no_grad():
            for i in range(steps):
                if extra_calls:
                    unet(latents * 3 - i, 999, encoder_hidden_states=text.flip(0))
                with capture.at_step(i):
                    unet(latents + i, 10 * i, encoder_hidden_states=text)
                    if extra_calls and capture.recording is False:
                        unet(latents - i, 5, encoder_hidden_states=text)
        return capture.eos_map(LATENT, LATENT)
    finally:
        uninstall(unet, previous)


def test_hidden_states_equal_diffusers_processors_bit_for_bit(unet):
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    attn = dict(unet.named_modules())[LAYERS[0]]
    g = torch.Generator().manual_seed(1)
    hidden, context = torch.randn(4, LATENT * LATENT, 8, generator=g), torch.randn(4, TOKENS, TEXT_DIM, generator=g)
    capture = EOSAttentionCapture()
    capture.layers = [LAYERS[0]]
    capture.start([5, 9], num_steps=1)
    for default in (AttnProcessor2_0(), AttnProcessor()):
        expected = default(attn, hidden, context)
        ours = EOSAttnProcessor(LAYERS[0], capture, default)
        with capture.at_step(0):
            assert capture.recording
            out = ours(attn, hidden, context)
        assert torch.equal(out, expected)
        capture.start([5, 9], num_steps=1)  # forget the layer for the next processor
    # the whole UNet: installed capture vs its default (SDPA) processors, at the recorded step
    latents, text = cfg_inputs(2)
    with torch.no_grad():
        plain = unet(latents, 7, encoder_hidden_states=text).sample
    capture = EOSAttentionCapture(step=0)
    previous = install(unet, capture)
    capture.start(3, num_steps=1)
    with torch.no_grad(), capture.at_step(0):
        captured = unet(latents, 7, encoder_hidden_states=text).sample
    uninstall(unet, previous)
    assert torch.equal(captured, plain) and capture.eos_map(LATENT, LATENT).shape == (2, 1, LATENT, LATENT)


def test_probabilities_are_a_softmax_that_reproduces_the_layer_output(unet):
    from diffusers.models.attention_processor import AttnProcessor2_0

    attn = dict(unet.named_modules())[LAYERS[1]]
    g = torch.Generator().manual_seed(3)
    hidden, context = torch.randn(4, LATENT * LATENT, 8, generator=g), torch.randn(4, TOKENS, TEXT_DIM, generator=g)
    with torch.no_grad():
        probs = attention_probs(attn, hidden, context, None, None, conditional_half=True)
        assert probs.shape == (2, attn.heads, LATENT * LATENT, TOKENS) and bool((probs >= 0).all())
        # each row is a softmax over 77 tokens: its sum is 1 up to one rounding per added term
        assert (probs.sum(-1) - 1).abs().max() <= rounding_tolerance(torch.float32, 1.0, TOKENS)
        # probs @ V through to_out is SDPA's output for the conditional half; the summation order differs, so the
        # bound is one rounding per term of the 77-term sum and of the 8-term output projection
        value = attn.to_v(context[2:]).unflatten(-1, (attn.heads, -1)).transpose(1, 2)
        mixed = (probs @ value).transpose(1, 2).flatten(2)
        out = attn.to_out[0](mixed)
        sdpa = AttnProcessor2_0()(attn, hidden, context)[2:]
        magnitude = float(out.abs().max()) + float(attn.to_out[0].weight.abs().sum(1).max() * value.abs().max())
    assert (out - sdpa).abs().max() <= rounding_tolerance(torch.float32, magnitude, TOKENS + 8)
    with pytest.raises(ValueError, match=r"expected a CFG batch \[unconditional, conditional\] but got 3 items"):
        attention_probs(attn, hidden[:3], context[:3], None, None, conditional_half=True)


@pytest.mark.parametrize("heads", [2, 4])
def test_map_is_the_eos_column_mean_over_heads_and_layers(heads):
    model = tiny_unet(heads)
    assert {dict(model.named_modules())[name].heads for name in LAYERS} == {heads}
    latents, text = cfg_inputs(4)
    eos = [5, 11]  # one EOS column per generation (two prompts of different lengths)
    got = captured_map(model, latents, text, eos, steps=3)  # default step -1: the last call sees latents + 2
    want = reference_map(model, latents + 2, text, 20, eos)
    assert got.shape == (2, 1, LATENT, LATENT)
    assert (got - want).abs().max() <= rounding_tolerance(torch.float32, 1.0, 2 * TOKENS)
    assert not torch.allclose(got[0], got[1])  # the two EOS columns differ
    # a probability averaged over heads and layers stays in [0, 1]
    assert 0 <= float(got.min()) and float(got.max()) <= 1


def test_map_is_the_same_whatever_extra_unet_calls_happen(unet):
    latents, text = cfg_inputs(5)
    plain = captured_map(unet, latents, text, 7, steps=3)
    assert torch.equal(captured_map(unet, latents, text, 7, steps=3, extra_calls=True), plain)
    # the step is named, not counted: step -2 of a 3-step run is the call that sees latents + 1 at timestep 10
    middle = captured_map(unet, latents, text, 7, steps=3, step=-2)
    tolerance = rounding_tolerance(torch.float32, 1.0, 2 * TOKENS)
    assert (middle - reference_map(unet, latents + 1, text, 10, [7, 7])).abs().max() <= tolerance
    assert (middle - plain).abs().max() > 10 * tolerance  # ~1e-3 on maps near 1/77: another step, another map
    # another step count: a 5-step run's last call sees latents + 4 at timestep 40
    five = captured_map(unet, latents, text, 7, steps=5)
    assert (five - reference_map(unet, latents + 4, text, 40, [7, 7])).abs().max() <= tolerance


def test_a_batch_without_unconditional_half(unet):
    latents, text = cfg_inputs(7)
    capture = EOSAttentionCapture(step=0, conditional_half=False)
    previous = install(unet, capture)
    capture.start([4, 8], num_steps=1)
    with torch.no_grad(), capture.at_step(0):
        unet(latents[2:], 3, encoder_hidden_states=text[2:])  # the conditional items alone (guidance scale <= 1)
    uninstall(unet, previous)
    want = reference_map(unet, latents, text, 3, [4, 8])  # the same items as the conditional half of a CFG batch
    assert (capture.eos_map(LATENT, LATENT) - want).abs().max() <= rounding_tolerance(torch.float32, 1.0, 2 * TOKENS)


def test_capture_errors_name_the_fix(unet):
    latents, text = cfg_inputs(6)
    capture = EOSAttentionCapture()
    with pytest.raises(RuntimeError, match=r"at_step called before start\(eos, num_steps\)"):
        with capture.at_step(0):
            pass
    with pytest.raises(ValueError, match=r"step -1 is outside a 0-step sampler"):
        capture.start(3, num_steps=0)
    with pytest.raises(ValueError, match=r"capture step 4 is outside a 3-step sampler \(valid: -3 .. 2"):
        EOSAttentionCapture(step=4).start(3, num_steps=3)
    previous = install(unet, capture)
    try:
        capture.start([3, 4, 5], num_steps=1)
        with pytest.raises(ValueError, match=r"3 EOS indices for 2 conditional batch items"), torch.no_grad():
            with capture.at_step(0):
                unet(latents, 1, encoder_hidden_states=text)
        capture.start(77, num_steps=1)
        with pytest.raises(ValueError, match=r"EOS indices \[77, 77\] must lie in 0 .. 76"), torch.no_grad():
            with capture.at_step(0):
                unet(latents, 1, encoder_hidden_states=text)
        capture.start(3, num_steps=1)
        with pytest.raises(RuntimeError, match=r"ran twice inside at_step\(0\)"), torch.no_grad():
            with capture.at_step(0):
                unet(latents, 1, encoder_hidden_states=text)
                unet(latents, 1, encoder_hidden_states=text)
        capture.start(3, num_steps=2)
        with torch.no_grad(), capture.at_step(0):
            unet(latents, 1, encoder_hidden_states=text)
        with pytest.raises(RuntimeError, match=r"no map for .*down_blocks\.0\.attentions\.0.*capture step \(1\)"):
            capture.eos_map(LATENT, LATENT)
        with pytest.raises(RuntimeError, match="already has a Bright Ending processor"):
            install(unet, capture)
    finally:
        uninstall(unet, previous)


def test_install_finds_the_two_first_block_cross_attentions_and_uninstall_restores(unet):
    before = {name: module.processor for name, module in unet.named_modules() if hasattr(module, "processor")}
    assert list(cross_attention_layers(unet)) == LAYERS
    previous = install(unet, EOSAttentionCapture())
    modules = dict(unet.named_modules())
    assert set(previous) == set(LAYERS) and all(isinstance(modules[n].processor, EOSAttnProcessor) for n in LAYERS)
    assert all(modules[n].processor is before[n] for n in before if n not in LAYERS)  # nothing else touched
    uninstall(unet, previous)
    assert all(modules[n].processor is before[n] for n in before)
    with pytest.raises(ValueError, match=r"no cross-attention layer \(attn2\) under 'down_blocks.0'"):
        cross_attention_layers(tiny_unet(2, first_block="DownBlock2D"))


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201 - a CLIPTokenizer
    """A CLIP tokenizer built offline: one token per letter (no merges), CLIP's BOS / EOS names."""
    from transformers import CLIPTokenizer

    folder: Path = tmp_path_factory.mktemp("clip_tokenizer")
    letters = string.ascii_lowercase
    vocab = {token: i for i, token in enumerate([*letters, *(c + "</w>" for c in letters),
                                                  "<|startoftext|>", "<|endoftext|>"])}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer.from_pretrained(str(folder))


@pytest.mark.parametrize("prompt, index", [
    ("a", 2),                    # BOS a EOS -> column 2
    ("a cat", 5),                # BOS a c a t EOS
    ("the cat sat on a mat", 16),
    ("x " * 75, 76),             # exactly 77 tokens: EOS is the last column
    ("x " * 120, 76),            # longer than the context: clipped to the last column, where truncation puts EOS
])
def test_eos_index_for_prompts_of_several_lengths(tokenizer, prompt, index):
    ids = tokenizer.encode(prompt)
    assert eos_index(prompt, tokenizer) == index == eos_index(ids)
    padded = tokenizer(prompt, padding="max_length", max_length=TOKENS, truncation=True).input_ids
    assert padded[index] == tokenizer.eos_token_id and padded[0] == tokenizer.bos_token_id
    assert tokenizer.eos_token_id not in padded[:index]  # the first EOS, not padding


def test_eos_index_errors():
    with pytest.raises(ValueError, match="a text prompt needs the pipeline's tokenizer"):
        eos_index("a cat")
    with pytest.raises(ValueError, match=r"has 1 token\(s\); a CLIP encoding has at least BOS and EOS"):
        eos_index([49406])
