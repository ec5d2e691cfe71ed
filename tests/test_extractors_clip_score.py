import hashlib

import pytest
import torch

from bench.registry import EXTRACTORS
from bench.tasks.generation.extractors.clip_score import CLIPScoreFeatures, clip_score

from clip_fixture import TINY, tiny_model, write_tiny_clip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_clip(tmp_path_factory.mktemp("clip") / "open_clip_pytorch_model.bin")


def images(count: int = 3) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (count, 96, 80, 3), generator=gen, dtype=torch.uint8)


def pil(batch: torch.Tensor) -> list:
    from PIL import Image

    return [Image.fromarray(image.numpy()) for image in batch]


def test_score_is_wens_measure_clip_similarity_with_the_same_model(checkpoint):
    import open_clip

    extractor = CLIPScoreFeatures(str(checkpoint), model_cfg=TINY)
    prompt = "a photo of a lighthouse at dusk"
    # Wen / BE optim_utils.measure_CLIP_similarity with create_model_and_transforms' eval transform
    model, preprocess = tiny_model(), open_clip.image_transform(224, is_train=False)
    with torch.no_grad():
        image_features = model.encode_image(torch.cat([preprocess(i).unsqueeze(0) for i in pil(images())]))
        text_features = model.encode_text(open_clip.SimpleTokenizer(context_length=16)([prompt]))
    image_features /= image_features.norm(dim=-1, keepdim=True)
    text_features /= text_features.norm(dim=-1, keepdim=True)
    theirs = (image_features @ text_features.T).mean(-1)
    ours = extractor.score(images(), prompt)
    assert ours.shape == (3,) and torch.allclose(ours, theirs, atol=1e-6)
    assert torch.allclose(extractor(images())["pool"], image_features, atol=1e-6)
    assert torch.allclose(extractor.encode_text([prompt]), text_features, atol=1e-6)
    assert extractor.scale == 1.0 and ours.abs().max() <= 1.0


def test_amg_variant_feeds_unnormalised_square_resizes_and_scales_by_100(tmp_path):
    from torchvision import transforms

    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(tiny_model(quick_gelu=True).state_dict(), path)
    extractor = CLIPScoreFeatures(str(path), variant="amg", model_cfg={**TINY, "quick_gelu": True})
    prompts = ["a red car", "a cat on a sofa", "Ann Graham Lotz"]
    # AMG-sd scripts/eval.py: sscd_transform (Resize((224, 224)) -> ToTensor) fed to CLIP, 100 x dot of unit vectors
    model, transform = tiny_model(quick_gelu=True), transforms.Compose([transforms.Resize((224, 224)),
                                                                        transforms.ToTensor()])
    with torch.no_grad():
        image_features = model.encode_image(torch.stack([transform(i) for i in pil(images())]))
        text_features = model.encode_text(extractor.tokenizer(prompts))
    image_features /= image_features.norm(dim=-1, keepdim=True)
    text_features /= text_features.norm(dim=-1, keepdim=True)
    expected = 100 * (image_features * text_features).sum(-1)
    assert torch.allclose(extractor.score(images(), prompts), expected, atol=1e-4)
    facts = extractor.describe()
    assert facts["scale"] == 100.0 and facts["quick_gelu"] is True and facts["preprocessing"]["name"] == "amg"


def test_named_models_load_the_file_with_the_tags_activation(checkpoint, monkeypatch):
    import open_clip

    built = []

    def create_model(name, **kwargs):  # stands in for the full-size architecture, which is too big for a test
        built.append((name, kwargs))
        return tiny_model(quick_gelu=kwargs["force_quick_gelu"])

    monkeypatch.setattr(open_clip, "create_model", create_model)
    wen = EXTRACTORS.build({"type": "CLIPScoreFeatures", "checkpoint": str(checkpoint)})
    amg = CLIPScoreFeatures(str(checkpoint), variant="amg")
    assert built == [("ViT-g-14", {"force_quick_gelu": False}), ("ViT-L-14", {"force_quick_gelu": True})]
    facts = wen.describe()
    assert (facts["model_name"], facts["tag"], facts["quick_gelu"]) == ("ViT-g-14", "laion2b_s12b_b42k", False)
    assert facts["weights_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert facts["preprocessing"]["interpolation"] == "bicubic" and facts["preprocessing"]["crop"] == 224
    assert (amg.describe()["model_name"], amg.describe()["tag"], amg.scale) == ("ViT-L-14", "openai", 100.0)
    # the loaded weights are the file's
    assert torch.equal(wen.model.visual.conv1.weight, tiny_model().visual.conv1.weight)


def test_bad_files_and_settings_get_clear_errors(checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"open_clip_pytorch_model\.bin from https://huggingface\.co/laion/"
                                                r"CLIP-ViT-g-14-laion2B-s12B-b42K"):
        CLIPScoreFeatures(str(tmp_path / "missing.bin"))
    with pytest.raises(FileNotFoundError, match=r"timm/vit_large_patch14_clip_224\.openai"):
        CLIPScoreFeatures(str(tmp_path / "missing.bin"), variant="amg")
    with pytest.raises(ValueError, match=r"`tag` must be the open_clip pretrained tag .* got 'laion9b' for ViT-g-14"):
        CLIPScoreFeatures(str(checkpoint), tag="laion9b")
    other = tmp_path / "other.bin"
    torch.save(tiny_model(embed_dim=8).state_dict(), other)
    with pytest.raises(ValueError, match=r"does not load into custom .*an open_clip state dict"):
        CLIPScoreFeatures(str(other), model_cfg=TINY)
    small = {**TINY, "vision_cfg": {**TINY["vision_cfg"], "image_size": 112}}
    with pytest.raises(ValueError, match=r"preprocessing 'open_clip' gives \(224, 224\) images but custom takes "
                                         r"\(112, 112\)"):
        CLIPScoreFeatures(str(checkpoint), model_cfg=small)
    with pytest.raises(ValueError, match=r"unknown variant 'AMG'.*Did you mean 'amg'"):
        CLIPScoreFeatures(str(checkpoint), variant="AMG")
    extractor = CLIPScoreFeatures(str(checkpoint), model_cfg=TINY)
    with pytest.raises(ValueError, match=r"2 prompts for 3 images"):
        extractor.score(images(), ["a", "b"])


def test_clip_score_by_hand():
    image = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    text = torch.tensor([[4.0, 3.0]])
    # cos((3, 4), (4, 3)) = 24 / 25; cos((1, 0), (4, 3)) = 4 / 5
    assert torch.allclose(clip_score(image, text), torch.tensor([0.96, 0.8]))
    assert torch.allclose(clip_score(image, text.expand(2, -1), scale=100), torch.tensor([96.0, 80.0]))
    with pytest.raises(ValueError, match=r"image \[B, D\] and text \[B, D\] or \[1, D\]"):
        clip_score(image, torch.zeros(3, 2))
