"""torchvision classifiers from local official weight files: names, hash-prefix checks, preprocessing, logits."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

import bench.methods.classifier.torchvision_classifier as tvc
from bench.io import sha256_file
from bench.methods.classifier.torchvision_classifier import (TorchvisionClassifier, WeightsHashError,
                                                             eval_preprocessing, hash_prefix, hub_checkpoint_dir,
                                                             weights_filename)
from bench.registry import METHODS

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub checkpoint folder under a temporary $TORCH_HOME."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


def randomised(model: nn.Module, seed: int) -> nn.Module:
    """``model`` in eval mode with non-trivial BatchNorm statistics."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


def save_with_hash_name(state: dict, folder: Path, stem: str) -> Path:
    """Save ``state`` as ``<stem>-<first 8 hex of its sha256>.pth``, torchvision's naming."""
    tmp = folder / f"{stem}.tmp"
    torch.save(state, tmp)
    return tmp.rename(folder / f"{stem}-{sha256_file(tmp)[:8]}.pth")


def expected_logits(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    with torch.no_grad():
        return model((images - mean) / std)


def predict(method: TorchvisionClassifier, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = method.predict({"image": images, "target": torch.zeros(len(images), dtype=torch.long)},
                             torch.zeros(len(images), dtype=torch.long))
    return out["logits"]


def test_official_names_and_hash_convention():
    # read from torchvision 0.29's weights enums (url of each IMAGENET1K_V1 entry)
    assert [weights_filename(m, "IMAGENET1K_V1") for m in
            ("resnet50", "densenet121", "wide_resnet50_2", "mobilenet_v2", "vit_l_16")] == [
        "resnet50-0676ba61.pth", "densenet121-a639ec97.pth", "wide_resnet50_2-95faca4d.pth",
        "mobilenet_v2-b0353104.pth", "vit_l_16-852ce7e3.pth"]
    assert torch.hub.HASH_REGEX.pattern == r"-([a-f0-9]*)\."  # the convention check_hash relies on
    assert hash_prefix("resnet50-0676ba61.pth") == "0676ba61"
    assert hash_prefix("epoch-1.pth") is None and hash_prefix("final.pth") is None


def test_eval_preprocessing_reads_torchvision_presets():
    assert eval_preprocessing("vit_l_16", "IMAGENET1K_V1") == {
        "resize": 242, "crop_size": 224, "interpolation": "bilinear", "antialias": True,
        "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    assert eval_preprocessing("resnet50", "IMAGENET1K_V1")["resize"] == 256
    assert eval_preprocessing("resnet50", "IMAGENET1K_V2")["resize"] == 232


def test_hub_dir_follows_torch_home(hub: Path):
    assert hub_checkpoint_dir() == hub


def test_missing_weights_name_the_path_and_the_url(hub: Path):
    method = TorchvisionClassifier("mobilenet_v2", num_classes=1000)
    expected = hub / "mobilenet_v2-b0353104.pth"
    with pytest.raises(FileNotFoundError, match=re.escape(str(expected))) as error:
        method.setup(torch.device("cpu"))
    assert "https://download.pytorch.org/models/mobilenet_v2-b0353104.pth" in str(error.value)


def test_hash_prefix_mismatch_is_an_error_naming_the_file(hub: Path):
    path = hub / "mobilenet_v2-b0353104.pth"
    torch.save(torchvision.models.mobilenet_v2(num_classes=5).state_dict(), path)
    method = TorchvisionClassifier("mobilenet_v2", num_classes=5)
    with pytest.raises(WeightsHashError, match=re.escape(str(path)) + ".*does not start with 'b0353104'"):
        method.setup(torch.device("cpu"))


def test_official_weights_resolve_and_give_torchvision_logits(hub: Path, monkeypatch: pytest.MonkeyPatch):
    torch.manual_seed(0)
    reference = randomised(torchvision.models.mobilenet_v2(num_classes=5), 1)
    path = save_with_hash_name(reference.state_dict(), hub, "mobilenet_v2")
    # a tiny stand-in for the official file: same lookup, same hash-prefix check
    monkeypatch.setattr(tvc, "weights_filename", lambda model_name, weights: path.name)
    method = TorchvisionClassifier("mobilenet_v2", num_classes=5, weights="IMAGENET1K_V1")
    assert method.mean == IMAGENET_MEAN and method.std == IMAGENET_STD
    method.setup(torch.device("cpu"))
    assert method.weights["path"] == str(path) and method.weights["sha256"].startswith(path.stem.split("-")[-1])
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    assert torch.equal(predict(method, images), expected_logits(reference, images))
    assert method.provenance()["weights_name"] == "IMAGENET1K_V1"


def test_explicit_checkpoint_with_legacy_densenet_keys(tmp_path: Path):
    torch.manual_seed(0)
    reference = randomised(torchvision.models.densenet121(num_classes=3), 1)
    # how the original densenet files store a layer ("norm.1", "conv.2", no num_batches_tracked)
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|conv))(\d)\.", r"\1.\2.", k): v
              for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    path = save_with_hash_name(legacy, tmp_path, "densenet121")
    method = TorchvisionClassifier("densenet121", num_classes=3, weights=None, checkpoint=str(path))
    method.setup(torch.device("cpu"))
    assert method.weights["missing_keys"] == [] and method.weights["unexpected_keys"] == []
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert torch.equal(predict(method, images), expected_logits(reference, images))

    broken = path.with_name("densenet121-00000000.pth")
    path.rename(broken)
    with pytest.raises(WeightsHashError, match="densenet121-00000000.pth"):
        TorchvisionClassifier("densenet121", num_classes=3, weights=None, checkpoint=str(broken)).setup(
            torch.device("cpu"))


def test_registered_with_weight_defaults():
    method = METHODS.build({"type": "TorchvisionClassifier", "model_name": "vit_l_16"})
    assert isinstance(method, TorchvisionClassifier) and method.num_classes == 1000
    assert (method.mean, method.std, method.weights_name) == (IMAGENET_MEAN, IMAGENET_STD, "IMAGENET1K_V1")
    with pytest.raises(ValueError, match="IMAGENET1K_V2"):
        TorchvisionClassifier("resnet50", weights="IMAGENET1K_V3")


def test_a_weights_hash_mismatch_is_a_user_error():
    """The CLI prints user errors without a traceback: a renamed or corrupt weights file is one of them."""
    from bench.errors import USER_ERRORS

    assert issubclass(WeightsHashError, USER_ERRORS)
