"""A stand-in for torch-fidelity's Inception-v3 weight file: the official layout, seeded random values."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn


class _InceptionV3Layout(nn.Module):
    """The modules of torch-fidelity's ``FeatureExtractorInceptionV3`` under the same attribute names, built from
    its own blocks, so the state dict has exactly the keys and shapes that class loads."""

    def __init__(self) -> None:
        super().__init__()
        from torch_fidelity.feature_extractor_inceptionv3 import (
            BasicConv2d,
            InceptionA,
            InceptionB,
            InceptionC,
            InceptionD,
            InceptionE_1,
            InceptionE_2,
        )

        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE_1(1280)
        self.Mixed_7c = InceptionE_2(2048)
        self.fc = nn.Linear(2048, 1008)


def random_inception_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights in the official file's layout: conv weights (He-scaled, so activations neither vanish
    nor explode over ~90 layers), BN affine and running statistics perturbed so features vary, fc weight and bias.
    Like torch-fidelity's converted file, it has no ``num_batches_tracked`` entries."""
    generator = torch.Generator().manual_seed(seed)
    with torch.device("meta"):  # shapes only: no memory, no draw from the global RNG
        layout = _InceptionV3Layout()
    state: dict[str, torch.Tensor] = {}
    for name, module in layout.named_modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.in_channels * math.prod(module.kernel_size)
            state[f"{name}.weight"] = torch.randn(module.weight.shape, generator=generator) * math.sqrt(2.0 / fan_in)
        elif isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            state[f"{name}.weight"] = 1.0 + 0.1 * torch.randn(n, generator=generator)
            state[f"{name}.bias"] = 0.1 * torch.randn(n, generator=generator)
            state[f"{name}.running_mean"] = 0.1 * torch.randn(n, generator=generator)
            state[f"{name}.running_var"] = 0.75 + 0.5 * torch.rand(n, generator=generator)
        elif isinstance(module, nn.Linear):
            state[f"{name}.weight"] = torch.randn(module.weight.shape, generator=generator) / math.sqrt(2048)
            state[f"{name}.bias"] = 0.1 * torch.randn(module.bias.shape, generator=generator)
    expected = {k: v.shape for k, v in layout.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert {k: v.shape for k, v in state.items()} == expected, "fixture layout out of step with torch-fidelity"
    return state


def write_random_inception_weights(path: str | Path, seed: int = 0) -> Path:
    """Write :func:`random_inception_state_dict` to ``path`` (a plain dict, ~95 MB, as the official .pth)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_inception_state_dict(seed), path)
    return path
