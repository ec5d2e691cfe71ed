"""The CIFAR-10/100 classifiers of the focal_calibration model zoo (Mukhoti et al. 2020) as method adapters.

The four architectures are written here with the official module names, so ``state_dict()`` keys and shapes
equal those of the zoo's ``.model`` files (checked against ``torrvision/focal_calibration`` ``Net/*.py``). Those
files are ``DataParallel`` state dicts: every key starts with ``module.``, which loading strips.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.checkpoint import load_weights
from bench.methods.classifier.timm_classifier import TimmClassifier
from bench.registry import METHODS, suggest

# focal_calibration Data/cifar10.py and Data/cifar100.py normalise with these for training and validation.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
# Quirk reproduced on request only: Data/cifar100.py's *test* loader normalises with ImageNet statistics, so the
# official CIFAR-100 test numbers were computed with these (the CIFAR-100 models were trained with CIFAR_MEAN/STD).
CIFAR100_OFFICIAL_TEST_MEAN = (0.485, 0.456, 0.406)
CIFAR100_OFFICIAL_TEST_STD = (0.229, 0.224, 0.225)


class Bottleneck(nn.Module):
    """ResNet 1x1-3x3-1x1 block (expansion 4); ``shortcut`` is empty when it is the identity."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_planes = planes * self.expansion
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != out_planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(out_planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """Four-stage bottleneck ResNet (64-128-256-512 wide) with a 3x3 stride-1 stem for 32x32 inputs.

    focal_calibration's "ResNet-110" is this network with [3, 4, 26, 3] blocks, not He et al.'s 1.7M-parameter
    CIFAR ResNet-110.
    """

    def __init__(self, blocks: list[int], num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        in_planes = 64
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
            strides = [1 if index == 0 else 2] + [1] * (count - 1)
            layer = []
            for stride in strides:
                layer.append(Bottleneck(in_planes, planes, stride))
                in_planes = planes * Bottleneck.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return self.fc(torch.flatten(F.avg_pool2d(out, 4), 1))


class WideBasicBlock(nn.Module):
    """Post-activation 3x3-3x3 block; ``downsample`` (1x1 conv + BN) when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = x if self.downsample is None else self.downsample(x)
        return F.relu(out + residual)


class WideResNet(nn.Module):
    """WRN-depth-width for CIFAR: 16-wide stem, three stages of (depth - 2) / 6 blocks, 16/32/64 x width."""

    def __init__(self, depth: int, width: int, num_classes: int) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"wide ResNet depth must be 6n + 2, got {depth}")
        count = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes = 16
        for index, planes in enumerate((16 * width, 32 * width, 64 * width)):
            stride = 1 if index == 0 else 2
            layer = [WideBasicBlock(in_planes, planes, stride)] + [WideBasicBlock(planes, planes)
                                                                   for _ in range(count - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*layer))
            in_planes = planes
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(torch.flatten(F.avg_pool2d(out, 8, stride=1), 1))


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 (4 x growth) then BN-ReLU-3x3 (growth); new features are concatenated *before* the input."""

    def __init__(self, in_planes: int, growth_rate: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))
        return torch.cat([out, x], 1)


class Transition(nn.Module):
    """BN-ReLU-1x1 conv, then 2x2 average pooling."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(self.conv(F.relu(self.bn(x))), 2)


class CifarDenseNet(nn.Module):
    """DenseNet-BC for CIFAR: 3x3 stem of 2 x growth channels, four dense stages, transitions halving channels."""

    def __init__(self, blocks: list[int], growth_rate: int, num_classes: int, reduction: float = 0.5) -> None:
        super().__init__()
        planes = 2 * growth_rate
        self.conv1 = nn.Conv2d(3, planes, 3, padding=1, bias=False)
        for index, count in enumerate(blocks):
            layers = [DenseLayer(planes + i * growth_rate, growth_rate) for i in range(count)]
            setattr(self, f"dense{index + 1}", nn.Sequential(*layers))
            planes += count * growth_rate
            if index < len(blocks) - 1:
                out_planes = int(math.floor(planes * reduction))
                setattr(self, f"trans{index + 1}", Transition(planes, out_planes))
                planes = out_planes
        self.bn = nn.BatchNorm2d(planes)
        self.linear = nn.Linear(planes, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        out = self.trans1(self.dense1(out))
        out = self.trans2(self.dense2(out))
        out = self.trans3(self.dense3(out))
        out = F.avg_pool2d(F.relu(self.bn(self.dense4(out))), 4)
        return self.linear(torch.flatten(out, 1))


CIFAR_ARCHS: dict[str, Callable[[int], nn.Module]] = {
    "resnet50": lambda num_classes: CifarResNet([3, 4, 6, 3], num_classes),
    "resnet110": lambda num_classes: CifarResNet([3, 4, 26, 3], num_classes),
    "densenet121": lambda num_classes: CifarDenseNet([6, 12, 24, 16], 32, num_classes),
    "wide_resnet_26_10": lambda num_classes: WideResNet(26, 10, num_classes),
}
# The zoo's file-name prefix for each architecture (train.py's --model names).
ZOO_MODEL_NAMES = {"resnet50": "resnet50", "resnet110": "resnet110", "densenet121": "densenet121",
                   "wide_resnet_26_10": "wide_resnet"}
# Loss names as in Linwei94/AAAI2025-FC -> the fragment in the zoo's file names
# (focal_calibration evaluate_scripts/cifar{10,100}.sh). "focal_loss" is FL-3 (gamma 3), "focal_loss_53" FLSD-53.
ZOO_LOSS_NAMES = {"cross_entropy": "cross_entropy", "brier_score": "brier_score",
                  "mmce": "mmce_weighted_lamda_2.0", "label_smoothing": "cross_entropy_smoothed_smoothing_0.05",
                  "focal_loss": "focal_loss_gamma_3.0", "focal_loss_53": "focal_loss_adaptive_53"}
# Every zoo file is the epoch-350 checkpoint except two Brier-score runs (train_scripts: -e 550 / -e 430).
ZOO_EPOCHS = {("cifar10", "wide_resnet_26_10", "brier_score"): 550, ("cifar100", "resnet110", "brier_score"): 430}


def _check_choice(kind: str, name: str, choices: list[str]) -> None:
    if name not in choices:
        raise ValueError(f"unknown {kind} {name!r}.{suggest(name, choices)} Choices: {', '.join(choices)}.")


def build_cifar_model(arch: str, num_classes: int) -> nn.Module:
    """One of the zoo's architectures (``CIFAR_ARCHS`` keys) with ``num_classes`` outputs."""
    _check_choice("CIFAR zoo architecture", arch, list(CIFAR_ARCHS))
    return CIFAR_ARCHS[arch](num_classes)


def zoo_filename(dataset: str, arch: str, loss: str) -> str:
    """The zoo's path for a model, e.g. ``zoo_filename("cifar10", "resnet50", "cross_entropy")`` is
    ``"CIFAR10/resnet50_cross_entropy_350.model"``."""
    _check_choice("dataset", dataset, ["cifar10", "cifar100"])
    _check_choice("CIFAR zoo architecture", arch, list(CIFAR_ARCHS))
    _check_choice("zoo loss", loss, list(ZOO_LOSS_NAMES))
    epochs = ZOO_EPOCHS.get((dataset, arch, loss), 350)
    return f"{dataset.upper()}/{ZOO_MODEL_NAMES[arch]}_{ZOO_LOSS_NAMES[loss]}_{epochs}.model"


@METHODS.register_module()
class CifarZooClassifier(TimmClassifier):
    """A focal_calibration CIFAR model from a local zoo file (``module.`` prefix stripped), logits per image.

    Inputs are ``batch["image"]`` in [0, 1], 32x32; ``mean``/``std`` default to the zoo's training normalisation.
    """

    def __init__(self, arch: str, num_classes: int, checkpoint: str | None = None, input_size: int | None = None,
                 mean: float | tuple[float, ...] | list[float] = CIFAR_MEAN,
                 std: float | tuple[float, ...] | list[float] = CIFAR_STD) -> None:
        _check_choice("CIFAR zoo architecture", arch, list(CIFAR_ARCHS))
        super().__init__(arch, num_classes, checkpoint=checkpoint, input_size=input_size,
                         mean=list(mean) if isinstance(mean, tuple) else mean,
                         std=list(std) if isinstance(std, tuple) else std)
        self.arch = arch

    def create_model(self) -> nn.Module:
        return build_cifar_model(self.arch, self.num_classes)

    def setup(self, device: torch.device, seed: int = 0) -> None:
        self.device = device
        self.model = self.create_model()
        if self.checkpoint:
            self.weights = load_weights(self.model, self.checkpoint, prefix_to_strip="module.")
        self.model.eval().to(device)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "arch": self.arch}
