"""DiffAct inference per video at Breakfast scale (T = 2,000 frames of 2048-d features, the official Breakfast
model: 12-layer 256-map encoder, 8-layer 128-map decoder, 25 DDIM steps), on CPU, as ratios against peers
measured in the same run:

- the full ``decoder-agg`` sampling (sample rate 1: one view) against the encoder's forward alone, i.e. what the 25
  decoder passes cost on top of an MS-TCN/ASFormer-style single pass;
- our local attention (``unfold`` view of the dilated taps) against the same attention computed through an
  explicit gather of the tap indices (the official formulation), at the Breakfast decoder layer's sizes.
"""
from __future__ import annotations

import pytest
import torch
from mmengine.config import Config

from bench.config import resolve_config_path
from bench.methods.diffact.model import ASDiffusionModel, MixedConvAttentionLayer
from bench.methods.diffact.sampling import ddim_sample

FRAMES = 2000


def breakfast_model() -> ASDiffusionModel:
    method = Config.fromfile(str(resolve_config_path("diffact/breakfast_split1"))).method
    torch.manual_seed(0)
    return ASDiffusionModel(method.encoder_params, method.decoder_params, method.diffusion_params,
                            method.num_classes).eval()


def gathered_attention(layer: MixedConvAttentionLayer, x: torch.Tensor, cross: torch.Tensor) -> torch.Tensor:
    """The attention with keys/values gathered by explicit tap indices (index_select), as the official code does."""
    length, k = x.shape[2], layer.kernel_size
    taps = torch.arange(length)[:, None] + torch.arange(k)[None, :] * layer.dilation  # indices into the padded seq
    qk = torch.cat([x, cross], 1)
    query = layer.att_linear_q(qk)
    pad = (layer.padding, layer.padding)
    keys = torch.nn.functional.pad(layer.att_linear_k(qk), pad).index_select(2, taps.reshape(-1))
    values = torch.nn.functional.pad(layer.att_linear_v(x), pad).index_select(2, taps.reshape(-1))
    keys, values = keys.reshape(*keys.shape[:2], length, k), values.reshape(*values.shape[:2], length, k)
    mask = layer.tap_mask(length, x.device)
    scores = torch.einsum("ncl,nclk->nlk", query, keys) / layer.d_model ** 0.5
    weights = torch.softmax(scores + torch.log(mask + 1e-6), 2) * mask
    return torch.einsum("nlk,nclk->ncl", weights, values)


@pytest.mark.benchmark(group="diffact")
def test_breakfast_video_sampling_vs_encoder_alone(benchmark, interleaved):
    model = breakfast_model()
    video = torch.randn(1, 2048, FRAMES, generator=torch.Generator().manual_seed(0))

    def sample() -> None:
        ddim_sample(model, video, seed=0)

    def encoder() -> None:
        with torch.inference_mode():
            model.encode(video)

    best = interleaved({"decoder-agg (25 DDIM steps)": sample, "encoder only": encoder}, rounds=2)
    ratio = best["decoder-agg (25 DDIM steps)"] / best["encoder only"]
    benchmark.extra_info.update(frames=FRAMES, seconds_per_video=best, sampling_over_encoder=ratio,
                                threads=torch.get_num_threads(), device="cpu")
    print(f"\nBreakfast-scale video (T={FRAMES}) on CPU: {best}, sampling / encoder = {ratio:.2f}")
    assert ratio > 1


@pytest.mark.benchmark(group="diffact")
def test_unfold_attention_vs_index_gather(benchmark, interleaved):
    torch.manual_seed(0)
    layer = MixedConvAttentionLayer(128, 5, 64, 0.0, d_cross=3 * 256).eval()  # Breakfast decoder layer 6
    x, cross = torch.randn(1, 128, FRAMES), torch.randn(1, 3 * 256, FRAMES)
    with torch.inference_mode():
        torch.testing.assert_close(layer.attention(x, cross), gathered_attention(layer, x, cross))

        best = interleaved({"unfold": lambda: layer.attention(x, cross),
                            "gather": lambda: gathered_attention(layer, x, cross)})
    ratio = best["gather"] / best["unfold"]
    benchmark.extra_info.update(frames=FRAMES, seconds=best, unfold_speedup=ratio, device="cpu")
    print(f"\nlocal attention at T={FRAMES}: {best}, unfold speed-up {ratio:.2f}x")
    assert ratio > 0.5
