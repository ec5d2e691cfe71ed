"""The focal_calibration CIFAR architectures: official sizes and key names, zoo file names, DataParallel loading."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.methods.classifier.cifar_zoo import (CIFAR_MEAN, CIFAR_STD, CifarZooClassifier, build_cifar_model,
                                                zoo_filename)
from bench.registry import METHODS

ARCHS = ["resnet50", "resnet110", "densenet121", "wide_resnet_26_10"]

# Computed by instantiating the official definitions (torrvision/focal_calibration @ 475422a: Net/resnet.py resnet50 /
# resnet110, Net/densenet.py densenet121, Net/wide_resnet.py wide_resnet_cifar(depth=26, width=10)) with
# num_classes 10 and 100. The papers publish no counts for these variants.
PARAMS = {
    "resnet50": (23_520_842, 23_705_252),
    "resnet110": (45_864_522, 46_048_932),
    "densenet121": (6_956_298, 7_048_548),
    "wide_resnet_26_10": (36_481_434, 36_539_124),
}
# Number of state-dict entries and sha256 of the "key:shape" lines of the official 10-class state dict, in order
# (same commit, after stripping DataParallel's "module."): equal keys, order and shapes.
STATE_DICT = {
    "resnet50": (320, "dc0ac5895244b5776cd907b4f4d2e1f7bcc196c0b04a3c3e5d2f14982561837b"),
    "resnet110": (680, "38543c5acd271486c04bcf49a1daa747442c837d2dbf6f1bfa3fdbf0c9a7711b"),
    "densenet121": (722, "32f9d84a3355d29d9782b1d0a710442fb5dc25e8b8b1601cbc9abad2287857a2"),
    "wide_resnet_26_10": (170, "7a3e9ffbe082a0c076fceefbd871578985dd40f0abdc776fc900a0cf1e97b04c"),
}
# Spot checks of official key names and shapes (10 classes).
KEYS = {
    "resnet50": {"layer1.0.shortcut.0.weight": (256, 64, 1, 1), "layer4.2.bn3.running_var": (2048,),
                 "fc.weight": (10, 2048)},
    "resnet110": {"layer3.25.conv3.weight": (1024, 256, 1, 1), "layer2.0.shortcut.1.weight": (512,),
                  "fc.bias": (10,)},
    "densenet121": {"conv1.weight": (64, 3, 3, 3), "dense1.0.bn1.weight": (64,),
                    "dense4.15.conv2.weight": (32, 128, 3, 3), "trans3.conv.weight": (512, 1024, 1, 1),
                    "bn.running_mean": (1024,), "linear.weight": (10, 1024)},
    "wide_resnet_26_10": {"conv1.weight": (16, 3, 3, 3), "layer1.0.downsample.0.weight": (160, 16, 1, 1),
                          "layer3.3.conv2.weight": (640, 640, 3, 3), "fc.weight": (10, 640)},
}


def meta_model(arch: str, num_classes: int) -> nn.Module:
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        return build_cifar_model(arch, num_classes)


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_counts_match_official(arch: str):
    for num_classes, expected in zip((10, 100), PARAMS[arch], strict=True):
        assert sum(p.numel() for p in meta_model(arch, num_classes).parameters()) == expected


@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_keys_and_shapes_match_official(arch: str):
    state = meta_model(arch, 10).state_dict()
    for key, shape in KEYS[arch].items():
        assert tuple(state[key].shape) == shape, key
    lines = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in state.items())
    assert (len(state), hashlib.sha256(lines.encode()).hexdigest()) == STATE_DICT[arch]


@pytest.mark.parametrize("arch", ARCHS)
def test_output_shape_on_cifar_input(arch: str):
    torch.manual_seed(0)
    model = build_cifar_model(arch, 100).eval()
    with torch.no_grad():
        logits = model(torch.rand(2, 3, 32, 32))
    assert logits.shape == (2, 100) and torch.isfinite(logits).all()


def randomise_batchnorm(model: nn.Module, seed: int) -> None:
    """Non-trivial running statistics, so an eval-mode forward depends on every loaded buffer."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.1)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)


def test_dataparallel_checkpoint_loads_with_identical_logits(tmp_path: Path):
    torch.manual_seed(0)
    reference = build_cifar_model("densenet121", 10)
    randomise_batchnorm(reference, 1)
    reference.eval()
    path = tmp_path / "CIFAR10" / "densenet121_cross_entropy_350.model"
    path.parent.mkdir()
    state = nn.DataParallel(reference).state_dict()  # what focal_calibration's train.py saves
    assert next(iter(state)) == "module.conv1.weight"
    torch.save(state, path)

    method = CifarZooClassifier(arch="densenet121", num_classes=10, checkpoint=str(path))
    method.setup(torch.device("cpu"))
    assert method.weights["missing_keys"] == [] and method.weights["unexpected_keys"] == []
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    target = torch.tensor([1, 2, 3])
    with torch.no_grad():
        out = method.predict({"image": images, "target": target}, torch.zeros(3, dtype=torch.long))
        mean, std = torch.tensor(CIFAR_MEAN).view(3, 1, 1), torch.tensor(CIFAR_STD).view(3, 1, 1)
        expected = reference((images - mean) / std)
    assert torch.equal(out["logits"], expected)
    assert torch.equal(out["target"], target)
    assert method.provenance()["arch"] == "densenet121"


def test_registered_and_defaults():
    method = METHODS.build({"type": "CifarZooClassifier", "arch": "wide_resnet_26_10", "num_classes": 100})
    assert isinstance(method, CifarZooClassifier)
    assert method.mean == [0.4914, 0.4822, 0.4465] and method.std == [0.2023, 0.1994, 0.2010]
    with pytest.raises(ValueError, match="Did you mean 'resnet110'"):
        CifarZooClassifier(arch="resnet11", num_classes=10)


def test_zoo_filenames_follow_the_official_scripts():
    assert zoo_filename("cifar10", "resnet50", "cross_entropy") == "CIFAR10/resnet50_cross_entropy_350.model"
    assert (zoo_filename("cifar100", "densenet121", "focal_loss_53")
            == "CIFAR100/densenet121_focal_loss_adaptive_53_350.model")
    assert zoo_filename("cifar10", "resnet110", "focal_loss") == "CIFAR10/resnet110_focal_loss_gamma_3.0_350.model"
    assert (zoo_filename("cifar10", "wide_resnet_26_10", "mmce")
            == "CIFAR10/wide_resnet_mmce_weighted_lamda_2.0_350.model")
    assert (zoo_filename("cifar100", "resnet50", "label_smoothing")
            == "CIFAR100/resnet50_cross_entropy_smoothed_smoothing_0.05_350.model")
    # the two Brier-score runs trained longer (train_scripts: -e 550, -e 430)
    assert zoo_filename("cifar10", "wide_resnet_26_10", "brier_score") == "CIFAR10/wide_resnet_brier_score_550.model"
    assert zoo_filename("cifar100", "wide_resnet_26_10", "brier_score") == "CIFAR100/wide_resnet_brier_score_350.model"
    assert zoo_filename("cifar100", "resnet110", "brier_score") == "CIFAR100/resnet110_brier_score_430.model"
    assert zoo_filename("cifar10", "resnet110", "brier_score") == "CIFAR10/resnet110_brier_score_350.model"
    with pytest.raises(ValueError, match="Did you mean 'focal_loss'"):
        zoo_filename("cifar10", "resnet50", "focal")
