"""Trident stages against direct (looped) reference computations and golden values on small tensors."""
import math

import pytest
import torch
import torch.nn.functional as F

from bench.methods.trident.stages import (aggregate, class_vocabulary, classify, pad_amounts, proxy_attention,
                                          proxy_block_output, query_names, resize_to_stride, sam_guided_weights,
                                          sliding_windows, splice, text_embeddings)


def test_class_names_split_synonyms_onto_one_index():
    assert query_names(["sky; wall; tree", "aeroplane", "bicycle"]) == (
        ["sky", "wall", "tree", "aeroplane", "bicycle"], [0, 0, 0, 1, 2])


def test_class_vocabulary_words_background_renames_and_joined_names():
    classes = ("background", "boat", "traffic light", "dining table")
    assert class_vocabulary(classes) == list(classes)
    assert class_vocabulary(classes, background=["sky", "wall"], rename={"boat": "ship", "dining table": "table"},
                            join_words=True) == ["sky; wall", "ship", "trafficlight", "table"]
    assert class_vocabulary(classes, join_words=True) == ["background", "boat", "trafficlight", "diningtable"]
    with pytest.raises(ValueError, match="'background' at index 0"):
        class_vocabulary(("wall", "sky"), background=["sky"])


def test_text_embedding_is_the_normalised_mean_of_normalised_templates():
    table = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))

    def encode_text(texts):
        return torch.stack([table[sum(map(ord, t)) % 50] * (1 + len(t)) for t in texts])

    templates = [lambda c: f"a photo of a {c}.", lambda c: f"a drawing of the {c}."]
    out = text_embeddings(encode_text, ["cat", "dog"], templates)
    for row, name in zip(out, ["cat", "dog"], strict=True):
        feats = encode_text([t(name) for t in templates])
        mean = (feats / feats.norm(dim=-1, keepdim=True)).mean(0)
        assert torch.allclose(row, mean / mean.norm(), atol=1e-6)


@pytest.mark.parametrize(("size", "expected"), [((448, 597), (464, 608)), ((448, 592), (448, 592)),
                                                ((100, 120), (336, 336)), ((320, 320), (320, 320))])
def test_resize_to_stride_golden_shapes(size, expected):
    """(448, 592) and (320, 320) already divide by 16, so they stay as they are, even below the crop."""
    assert tuple(resize_to_stride(torch.zeros(1, 3, *size), 16, 336).shape[-2:]) == expected


def test_sliding_windows_cover_the_image_and_stay_inside():
    windows, grid = sliding_windows(464, 608, crop=336, stride=224)
    assert grid == (2, 3)
    assert windows == [(0, 0, 336, 336), (0, 224, 336, 560), (0, 272, 336, 608),
                       (128, 0, 464, 336), (128, 224, 464, 560), (128, 272, 464, 608)]
    covered = torch.zeros(464, 608)
    for y1, x1, y2, x2 in windows:
        covered[y1:y2, x1:x2] += 1
    assert covered.min() >= 1


def test_pad_amounts_split_left_right_top_bottom():
    assert pad_amounts(330, 340, 56) == (26, 26, 3, 3)
    assert pad_amounts(336, 335, 56) == (0, 1, 0, 0)
    assert pad_amounts(336, 336, 56) == (0, 0, 0, 0)


def test_proxy_attention_matches_a_looped_formula():
    feats = torch.randn(2, 5, 3, 4, generator=torch.Generator().manual_seed(1))
    attention = proxy_attention(feats, beta=1.2, gamma=3.0)
    tokens = F.normalize(feats.flatten(2), dim=1)
    sims = torch.stack([tokens[b].T @ tokens[b] for b in range(2)])
    mean = sims.sum() / sims.numel()  # one mean over the whole batch
    for b in range(2):
        for i in range(12):
            row = [(sims[b, i, j] - 1.2 * mean) * 3.0 for j in range(12)]
            kept = [math.exp(v) if v >= 0 else 0.0 for v in row]
            expected = torch.tensor([k / sum(kept) for k in kept])
            assert torch.allclose(attention[b, i], expected, atol=1e-5)


def test_proxy_block_output_matches_per_head_loops():
    torch.manual_seed(2)
    dim, heads, batch, grid = 8, 2, 2, (3, 3)
    mha = torch.nn.MultiheadAttention(dim, heads)
    tokens = torch.randn(batch, 9, dim)
    attention = torch.softmax(torch.randn(batch, 9, 9), dim=-1)
    out = proxy_block_output(tokens, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj, heads, grid, grid,
                             attention)
    v = tokens @ mha.in_proj_weight[2 * dim:].T + mha.in_proj_bias[2 * dim:]
    heads_out = [attention @ v[..., h * 4:(h + 1) * 4] for h in range(heads)]
    expected = mha.out_proj(torch.cat(heads_out, dim=-1))
    assert torch.allclose(out, expected, atol=1e-5)
    # v is resized to the DINO grid when the grids differ (ViT-H/14 windows: 24 CLIP vs 21 DINO tokens a side)
    resized = proxy_block_output(tokens, mha.in_proj_weight, mha.in_proj_bias, mha.out_proj, heads, grid, (2, 2),
                                 torch.softmax(torch.randn(batch, 4, 4), dim=-1))
    assert resized.shape == (batch, 4, dim)


def test_splice_averages_overlaps():
    maps = torch.stack([torch.full((2, 2, 3), 1.0), torch.full((2, 2, 3), 3.0)])
    canvas = splice(maps, [(0, 0, 2, 3), (0, 2, 2, 5)], (2, 5))
    assert canvas[0, 0, 0].tolist() == [1.0, 1.0, 2.0, 3.0, 3.0]


def test_sam_guided_weights_match_a_looped_formula():
    gen = torch.Generator().manual_seed(3)
    values = torch.randn(3, 6, 4, generator=gen)
    attention = torch.softmax(torch.randn(3, 6, 6, generator=gen), dim=-1)
    for cos_fac, refine_neg_cos in ((1.2, True), (-2.0, False), (-2.0, True), (50.0, True)):
        weights = sam_guided_weights(values, attention, cos_fac, refine_neg_cos)
        unit = F.normalize(values, dim=-1)
        for m in range(6):
            sims = [[float(unit[h, m] @ unit[h, n]) for n in range(6)] for h in range(3)]
            thr = cos_fac * sum(sum(row) / 6 for row in sims) / 3
            if not refine_neg_cos and thr < 0:
                thr = 0.6
            thr = min(thr, 0.9)
            kept = [sum(float(attention[h, m, n]) if sims[h][n] > thr else 0.0 for h in range(3)) / 3
                    for n in range(6)]
            expected = torch.tensor([k / sum(kept) for k in kept])
            assert torch.allclose(weights[m], expected, atol=1e-5), (cos_fac, refine_neg_cos, m)
    assert torch.allclose(sam_guided_weights(values, attention, 1.2).sum(-1), torch.ones(6))


def test_aggregate_resizes_then_mixes():
    spliced = torch.arange(2 * 2 * 2, dtype=torch.float32).reshape(1, 2, 2, 2)
    identity = aggregate(spliced, torch.eye(4), (2, 2))
    assert torch.equal(identity, spliced.flatten(2)[0].T)
    mean_all = aggregate(spliced, torch.full((4, 4), 0.25), (2, 2))
    assert torch.allclose(mean_all, spliced.flatten(2)[0].mean(1).expand(4, 2))


def test_classify_merges_background_synonyms_and_applies_prob_threshold():
    text = torch.eye(4)  # queries: bg synonyms 0-1, classes 1 and 2 at queries 2 and 3
    features = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    probs, labels = classify(features, text, [0, 0, 1, 2], (2, 2), (2, 2), logit_scale=40.0)
    assert probs.shape == (3, 2, 2) and labels.flatten().tolist() == [0, 1, 0, 2]
    # pixel 2 is split between a background synonym and class 2: background wins the tie by order, as argmax does
    assert torch.allclose(probs[:, 1, 0], torch.tensor([0.5, 0.0, 0.5]), atol=1e-6)
    _, thresholded = classify(features, text, [0, 0, 1, 2], (2, 2), (2, 2), prob_thd=0.9)
    assert thresholded.flatten().tolist() == [0, 1, 0, 2]
    flat, low = classify(features, text, [0, 0, 1, 2], (2, 2), (2, 2), logit_scale=1.0, prob_thd=0.9)
    assert float(flat.max()) < 0.9 and low.flatten().tolist() == [0, 0, 0, 0]  # features are normalised first
