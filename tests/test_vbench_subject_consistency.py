"""VBench subject consistency: the formula on hand-made videos (static, alternating frames, anti-correlated frames),
the scorer with any frame extractor, and the DINO ViT extractor (state-dict names of DINO's checkpoint, parity with
timm's own forward, DINO's position-embedding resize, VBench's preprocessing)."""
from __future__ import annotations

import math

import pytest
import torch

from bench.registry import EXTRACTORS, VIDEO_SCORERS
from bench.tasks.generation.extractors.dino import DINOFeatures, dino_position_embedding, vbench_dino_transform
from bench.tasks.generation.video_scorers.subject_consistency import subject_consistency

TINY = {"patch_size": 16, "embed_dim": 32, "depth": 2, "num_heads": 2}


def _frame(value: int, size: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (size, size, 3), generator=g) // 2 + value).clamp(0, 255).to(torch.uint8)


def test_static_video_scores_one_and_alternating_frames_give_the_derived_value():
    a = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    b = torch.tensor([0.6, 0.8, 0.0], dtype=torch.float64)  # cos(a, b) = 0.6
    assert subject_consistency(torch.stack([a] * 5)) == pytest.approx(1.0, abs=1e-12)
    c = 0.6
    for frames in (4, 5, 8):
        feats = torch.stack([a if i % 2 == 0 else b for i in range(frames)])
        # frame i >= 1: cos to the previous is c; cos to the first is 1 for even i, c for odd i
        expected = sum((c + (1.0 if i % 2 == 0 else c)) / 2 for i in range(1, frames)) / (frames - 1)
        assert subject_consistency(feats) == pytest.approx(expected, abs=1e-12)
    assert subject_consistency(torch.stack([a, b, a, b])) == pytest.approx((5 * c + 1) / 6, abs=1e-12)


def test_negative_similarities_are_clamped_at_zero_and_one_frame_is_an_error():
    a = torch.tensor([1.0, 0.0])
    assert subject_consistency(torch.stack([a, -a])) == 0.0  # max(0, -1) for both terms
    with pytest.raises(ValueError, match="at least 2 frames"):
        subject_consistency(a[None])


def test_scorer_takes_any_extractor_spec_and_labels_it():
    scorer = VIDEO_SCORERS.build(dict(type="SubjectConsistency", extractor=dict(type="PixelCorrelationFeatures")))
    a, b = _frame(0, seed=1), _frame(0, seed=2)
    video = torch.stack([a, b, a, b])
    fa, fb = EXTRACTORS.build(dict(type="PixelCorrelationFeatures"))(torch.stack([a, b]))["pool"]
    c = max(0.0, float(fa @ fb))
    assert scorer(video) == pytest.approx((5 * c + 1) / 6, abs=1e-6)
    assert scorer(torch.stack([a] * 3)) == pytest.approx(1.0, abs=1e-6)
    assert scorer.score_batch(torch.stack([video, video])).tolist() == pytest.approx([(5 * c + 1) / 6] * 2, abs=1e-6)
    assert scorer.describe()["label"].startswith("not VBench's DINO")
    with pytest.raises(ValueError, match=r"uint8 \[F, H, W, 3\]"):
        scorer(video.float())


def _dino_checkpoint(tmp_path, arch=TINY, seed=0):
    """A checkpoint under the names of DINO's ``vision_transformer.py`` (what dino_vitbase16_pretrain.pth holds)."""
    g = torch.Generator().manual_seed(seed)
    d, p = arch["embed_dim"], arch["patch_size"]
    grid = 224 // p

    def rand(*shape):
        return torch.randn(*shape, generator=g) * 0.05

    state = {"cls_token": rand(1, 1, d), "pos_embed": rand(1, grid * grid + 1, d),
             "patch_embed.proj.weight": rand(d, 3, p, p), "patch_embed.proj.bias": rand(d),
             "norm.weight": 1 + rand(d), "norm.bias": rand(d)}
    for i in range(arch["depth"]):
        state.update({f"blocks.{i}.norm1.weight": 1 + rand(d), f"blocks.{i}.norm1.bias": rand(d),
                      f"blocks.{i}.attn.qkv.weight": rand(3 * d, d), f"blocks.{i}.attn.qkv.bias": rand(3 * d),
                      f"blocks.{i}.attn.proj.weight": rand(d, d), f"blocks.{i}.attn.proj.bias": rand(d),
                      f"blocks.{i}.norm2.weight": 1 + rand(d), f"blocks.{i}.norm2.bias": rand(d),
                      f"blocks.{i}.mlp.fc1.weight": rand(4 * d, d), f"blocks.{i}.mlp.fc1.bias": rand(4 * d),
                      f"blocks.{i}.mlp.fc2.weight": rand(d, 4 * d), f"blocks.{i}.mlp.fc2.bias": rand(d)})
    path = tmp_path / "dino_model" / "dino_vitbase16_pretrain.pth"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def test_dino_loads_dino_names_and_matches_timm_forward_on_square_frames(tmp_path):
    path = _dino_checkpoint(tmp_path)
    extractor = DINOFeatures(cache_dir=str(tmp_path), arch=TINY)  # found under VBench's cache layout
    frames = torch.stack([_frame(40, size=32, seed=s) for s in range(3)])
    features = extractor(frames)["pool"]
    assert features.shape == (3, TINY["embed_dim"])
    x = vbench_dino_transform(frames)
    assert x.shape == (3, 3, 224, 224)
    model = extractor.model
    with torch.no_grad():  # timm's own forward: the class token after the final norm (global_pool="token")
        reference = model.forward_head(model.forward_features(x), pre_logits=True)
    torch.testing.assert_close(features, reference, rtol=1e-5, atol=1e-5)
    facts = extractor.describe()
    assert facts["weights"] == str(path) and len(facts["weights_sha256"]) == 64


def test_vbench_dino_transform_resizes_the_shorter_side_without_rounding():
    import torchvision.transforms as T

    frames = torch.randint(0, 256, (2, 20, 30, 3), dtype=torch.uint8)
    ours = vbench_dino_transform(frames)
    # VBench: load_video gives torch.Tensor(frames) (float32), then dino_transform(224)
    vbench = T.Compose([T.Resize(size=224, antialias=False), T.Lambda(lambda x: x.float().div(255.0)),
                        T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    expected = vbench(torch.Tensor(frames.numpy()).permute(0, 3, 1, 2))
    assert ours.shape == (2, 3, 224, 336)
    torch.testing.assert_close(ours, expected, rtol=0, atol=0)


def test_dino_position_embedding_is_dinos_bicubic_resize_for_other_grids():
    pos = torch.randn(1, 14 * 14 + 1, 8)
    assert dino_position_embedding(pos, 224, 224, 16) is pos
    resized = dino_position_embedding(pos, 224, 336, 16)  # 14 x 21 patches
    assert resized.shape == (1, 14 * 21 + 1, 8)
    grid = pos[:, 1:].reshape(1, 14, 14, 8).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(grid, scale_factor=(14.1 / math.sqrt(196), 21.1 / math.sqrt(196)),
                                               mode="bicubic").permute(0, 2, 3, 1).reshape(1, -1, 8)
    torch.testing.assert_close(resized[:, 1:], expected)
    torch.testing.assert_close(resized[:, :1], pos[:, :1])


def test_dino_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="dino_vitbase16_pretrain.pth"):
        DINOFeatures(cache_dir=str(tmp_path))
    path = _dino_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="not a DINO ViT state dict"):
        DINOFeatures(weights=str(path), arch={**TINY, "depth": 3})
