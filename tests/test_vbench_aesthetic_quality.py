"""VBench aesthetic quality with a tiny random CLIP in OpenAI's checkpoint format: the score is the LAION linear head
on the L2-normalised CLIP embedding / 10, averaged over frames, checked against VBench's own pipeline written out
here (``load_video`` -> ``clip_transform(224)`` -> ``encode_image`` -> normalise -> head -> / 10 -> mean)."""
from __future__ import annotations

import pytest
import torch

from bench.registry import VIDEO_SCORERS
from bench.tasks.generation.video_scorers.aesthetic_quality import aesthetic_quality, vbench_clip_transform

EMBED = 16


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny CLIP saved as an OpenAI state dict (open_clip's names are OpenAI's; widths of 64 give 1 head, as
    ``build_model_from_openai_state_dict`` infers heads = width // 64) and a LAION-style head nn.Linear(16, 1), under
    VBench's cache layout."""
    import open_clip

    torch.manual_seed(0)
    model = open_clip.CLIP(embed_dim=EMBED, vision_cfg=dict(layers=1, width=64, head_width=64, patch_size=32,
                                                            image_size=224),
                           text_cfg=dict(context_length=8, vocab_size=50, width=64, heads=1, layers=1),
                           quick_gelu=True)
    root = tmp_path_factory.mktemp("vbench_cache")
    clip_path = root / "clip_model" / "ViT-L-14.pt"
    head_path = root / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth"
    clip_path.parent.mkdir(parents=True)
    head_path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), clip_path)
    head = torch.nn.Linear(EMBED, 1)
    torch.nn.init.normal_(head.weight, std=3.0)
    torch.save(head.state_dict(), head_path)
    return root, clip_path, head_path


def _video(frames=3, h=40, w=56, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (frames, h, w, 3), generator=g).to(torch.uint8)


def test_score_is_the_linear_head_on_normalised_embeddings_over_ten(weights):
    import torchvision.transforms as T

    root, _, head_path = weights
    scorer = VIDEO_SCORERS.build(dict(type="AestheticQuality", cache_dir=str(root), batch_size=2))
    video = _video()
    # VBench, written out: torch.Tensor(frames) (float), clip_transform(224), encode_image, normalise, head, / 10
    clip_transform = T.Compose([
        T.Resize(224, interpolation=T.InterpolationMode.BICUBIC, antialias=False), T.CenterCrop(224),
        T.Lambda(lambda x: x.float().div(255.0)),
        T.Normalize((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))])
    images = clip_transform(torch.Tensor(video.numpy()).permute(0, 3, 1, 2))
    head = torch.nn.Linear(EMBED, 1)
    head.load_state_dict(torch.load(head_path))
    with torch.no_grad():
        feats = torch.nn.functional.normalize(scorer.clip.encode_image(images).float(), dim=-1, p=2)
        expected = float((head(feats).squeeze(-1) / 10).mean())
    assert scorer(video) == pytest.approx(expected, abs=1e-6)
    assert abs(expected) > 0.05  # the head's weights make the number non-trivial
    torch.testing.assert_close(vbench_clip_transform(video), images, rtol=0, atol=0)
    facts = scorer.describe()
    assert facts["clip_dtype"] == "float32" and facts["clip_weights"]["file"].endswith("ViT-L-14.pt")


def test_formula_is_mean_over_frames_of_head_over_ten():
    head = torch.nn.Linear(2, 1)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[10.0, 20.0]]))
        head.bias.fill_(5.0)
    embeddings = torch.tensor([[3.0, 4.0], [1.0, 0.0]])  # normalised: (0.6, 0.8) and (1, 0)
    # frame scores: 10*0.6 + 20*0.8 + 5 = 27 and 10 + 5 = 15; / 10 -> 2.7 and 1.5; mean 2.1
    assert aesthetic_quality(embeddings, head) == pytest.approx(2.1, abs=1e-6)


def test_bad_files_are_named(weights, tmp_path):
    root, clip_path, _ = weights
    with pytest.raises(FileNotFoundError, match="sa_0_4_vit_l_14_linear.pth"):
        VIDEO_SCORERS.build(dict(type="AestheticQuality", clip_weights=str(clip_path), cache_dir=str(tmp_path)))
    wrong = tmp_path / "head.pth"
    torch.save(torch.nn.Linear(EMBED + 1, 1).state_dict(), wrong)
    with pytest.raises(ValueError, match="head takes 17-d embeddings"):
        VIDEO_SCORERS.build(dict(type="AestheticQuality", cache_dir=str(root), head_weights=str(wrong)))
    not_clip = tmp_path / "ViT-L-14.pt"
    torch.save({"weight": torch.zeros(2)}, not_clip)
    with pytest.raises(ValueError, match="does not load as an OpenAI CLIP model"):
        VIDEO_SCORERS.build(dict(type="AestheticQuality", cache_dir=str(root), clip_weights=str(not_clip)))


def test_parity_with_openai_clip_load_where_it_is_installed(weights):
    """VBench loads CLIP with OpenAI's ``clip.load(path, device)`` (package openai-clip, not in the lock), which builds
    the model with ``clip.model.build_model(state_dict)`` and keeps fp32 on the CPU; where it is installed, that model
    gives the scorer's embeddings on the same frames. (``clip.load`` itself reads only the TorchScript archive: its
    state-dict fallback re-reads an exhausted file handle.)"""
    clip_model = pytest.importorskip("clip.model")
    root, clip_path, _ = weights
    scorer = VIDEO_SCORERS.build(dict(type="AestheticQuality", cache_dir=str(root)))
    model = clip_model.build_model(torch.load(clip_path)).float().eval()
    video = _video(frames=2, h=64, w=48, seed=3)
    images = vbench_clip_transform(video)
    with torch.no_grad():
        expected = model.encode_image(images).float()
    torch.testing.assert_close(scorer.embed(video), expected, rtol=1e-5, atol=1e-5)
