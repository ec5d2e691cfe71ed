"""DiffAct networks: official state-dict names and sizes, local attention against a dense reference."""
import math

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from bench.config import resolve_config_path
from bench.methods.diffact.model import (ASDiffusionModel, MixedConvAttentionLayer, condition_dim,
                                         timestep_embedding)

LAYER_PARTS = ("conv_block.0", "att_linear_q", "att_linear_k", "att_linear_v", "ffn_block.0", "ffn_block.2")
BUFFERS = ("betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
           "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
           "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2")


def official_model(dataset: str) -> ASDiffusionModel:
    method = Config.fromfile(str(resolve_config_path(f"diffact/{dataset}_split1"))).method
    return ASDiffusionModel(method.encoder_params, method.decoder_params, method.diffusion_params, method.num_classes)


def sheet_keys(encoder_layers: int, decoder_layers: int) -> set[str]:
    """The release.model key list of the paper sheet (§4), written out."""
    keys = set(BUFFERS)
    for prefix, count in (("encoder.encoder.layers", encoder_layers), ("decoder.module.layers", decoder_layers)):
        keys |= {f"{prefix}.{i}.{part}.{p}" for i in range(count) for part in LAYER_PARTS for p in ("weight", "bias")}
    for module in ("encoder.conv_in", "encoder.conv_out", "decoder.time_in.0", "decoder.time_in.1", "decoder.conv_in",
                   "decoder.module.time_proj", "decoder.conv_out"):
        keys |= {f"{module}.weight", f"{module}.bias"}
    return keys


# Parameter counts equal those of the official ASDiffusionModel built from default_configs.py (printed by
# tests/golden/diffact_params.py; its state dict then loaded into ours with strict=True and gave bitwise-equal outputs).
@pytest.mark.parametrize("dataset, encoder_layers, params", [("gtea", 10, 1_204_438), ("50salads", 10, 1_214_566),
                                                             ("breakfast", 12, 11_912_800)])
def test_state_dict_names_and_sizes_are_the_official_ones(dataset, encoder_layers, params):
    model = official_model(dataset)
    assert set(model.state_dict()) == sheet_keys(encoder_layers, 8)
    assert sum(p.numel() for p in model.parameters()) == params
    assert model.betas.dtype == torch.float64  # the official buffers are float64


def test_condition_dim_counts_raw_input_and_encoder_probs():
    enc = {"feature_layer_indices": [-1, 3, 5, -2], "num_f_maps": 32, "input_dim": 64}
    assert condition_dim(enc, num_classes=7) == 2 * 32 + 64 + 7


def dense_local_attention(layer: MixedConvAttentionLayer, x: torch.Tensor, cross: torch.Tensor | None) -> torch.Tensor:
    """Reference: full T x T attention restricted to each frame's dilated taps, zero keys/values off the sequence."""
    qk_in = x if cross is None else torch.cat([x, cross], 1)
    q, k, v = layer.att_linear_q(qk_in)[0], layer.att_linear_k(qk_in)[0], layer.att_linear_v(x)[0]
    length, half = x.shape[2], layer.kernel_size // 2
    out = torch.zeros_like(q)
    for i in range(length):
        taps = [i + (j - half) * layer.dilation for j in range(layer.kernel_size)]
        inside = torch.tensor([0 <= p < length for p in taps], dtype=q.dtype)
        keys = torch.stack([k[:, p] if 0 <= p < length else torch.zeros_like(k[:, 0]) for p in taps], 1)
        values = torch.stack([v[:, p] if 0 <= p < length else torch.zeros_like(v[:, 0]) for p in taps], 1)
        scores = (q[:, i] @ keys) / math.sqrt(layer.d_model) + torch.log(inside + 1e-6)
        out[:, i] = values @ (F.softmax(scores, 0) * inside)
    return out[None]


@pytest.mark.parametrize("dilation, d_cross", [(1, 0), (4, 0), (16, 6)])
def test_local_attention_matches_dense_reference(dilation, d_cross):
    torch.manual_seed(0)
    layer = MixedConvAttentionLayer(8, 5, dilation, 0.0, d_cross=d_cross).eval()
    x = torch.randn(1, 8, 23)
    cross = torch.randn(1, d_cross, 23) if d_cross else None
    torch.testing.assert_close(layer.attention(x, cross), dense_local_attention(layer, x, cross), atol=1e-5, rtol=1e-5)


def test_timestep_embedding_is_sin_then_cos():
    emb = timestep_embedding(torch.tensor([0, 10]), 8)
    freqs = torch.exp(torch.arange(4) * -(math.log(10000) / 3))
    torch.testing.assert_close(emb[1], torch.cat([torch.sin(10 * freqs), torch.cos(10 * freqs)]))
    assert emb[0, :4].abs().sum() == 0 and torch.all(emb[0, 4:] == 1)


def test_encoder_features_concatenate_raw_layers_and_probs():
    enc = dict(num_layers=4, num_f_maps=8, input_dim=5, kernel_size=3, normal_dropout_rate=0.0,
               channel_dropout_rate=0.0, temporal_dropout_rate=0.0, feature_layer_indices=[-1, 1, 3, -2])
    model = ASDiffusionModel(enc, dict(num_layers=2, num_f_maps=6, time_emb_dim=16, kernel_size=3, dropout_rate=0.0),
                             dict(timesteps=100), num_classes=3).eval()
    x = torch.randn(1, 5, 11)
    logits, condition = model.encode(x)
    assert condition.shape == (1, 5 + 2 * 8 + 3, 11)
    torch.testing.assert_close(condition[:, :5], x)
    torch.testing.assert_close(condition[:, -3:], F.softmax(logits, 1))


SMALL = dict(encoder_params=dict(num_layers=3, num_f_maps=8, input_dim=6, kernel_size=5, normal_dropout_rate=0.0,
                                 channel_dropout_rate=0.0, temporal_dropout_rate=0.0, feature_layer_indices=[1, 2, -2]),
             decoder_params=dict(num_layers=2, num_f_maps=8, time_emb_dim=16, kernel_size=3, dropout_rate=0.0),
             diffusion_params=dict(timesteps=100, sampling_timesteps=2), num_classes=5)


def test_causal_outputs_do_not_depend_on_future_frames():
    torch.manual_seed(0)
    model = ASDiffusionModel(**SMALL, causal=True).eval()
    feats = torch.randn(1, 6, 40)
    later = feats.clone()
    later[:, :, 25:] = torch.randn(1, 6, 15)  # change only frames 25..39
    with torch.no_grad():
        (logits, cond), (logits2, cond2) = model.encode(feats), model.encode(later)
        event = torch.rand(1, 5, 40)
        decoded = model.decoder(cond, torch.tensor([10]), event)
        decoded2 = model.decoder(cond2, torch.tensor([10]), event)
    assert torch.equal(logits[..., :25], logits2[..., :25]) and torch.equal(decoded[..., :25], decoded2[..., :25])
    assert not torch.allclose(logits[..., 25:], logits2[..., 25:])
    offline = ASDiffusionModel(**SMALL).eval()
    offline.load_state_dict(model.state_dict())  # same parameters: the switch adds none
    with torch.no_grad():
        assert not torch.allclose(offline.encode(feats)[0][..., :25], offline.encode(later)[0][..., :25])


def test_sigmoid_activation_feeds_the_condition_and_probabilities():
    torch.manual_seed(0)
    model = ASDiffusionModel(**SMALL, activation="sigmoid").eval()
    logits, condition = model.encode(torch.randn(1, 6, 12))
    assert torch.allclose(condition[:, -5:], torch.sigmoid(logits))  # -2: the encoder's probabilities
    assert torch.allclose(model.probabilities(logits), torch.sigmoid(logits))
    with pytest.raises(ValueError, match="activation"):
        ASDiffusionModel(**SMALL, activation="tanh")
