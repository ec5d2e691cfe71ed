"""A torchvision classifier as a method adapter, with official weights read from a local file (never downloaded).

``weights="IMAGENET1K_V1"`` resolves to the file name torchvision would download (the last part of the weights'
URL, e.g. ``resnet50-0676ba61.pth``) in torch hub's checkpoint folder, and, as torchvision's ``check_hash`` does,
the file's sha256 must start with the hex digits after the last ``-`` of its name.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from bench.checkpoint import CheckpointError, load_weights
from bench.io import sha256_file
from bench.methods.classifier.timm_classifier import TimmClassifier
from bench.registry import METHODS

# torchvision's ImageClassification preset defaults (torchvision/transforms/_presets.py).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Old DenseNet files name a layer's modules "norm.1", "conv.2", ...; the current modules are "norm1", "conv2".
_DENSENET_LEGACY_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|conv))\.([12])\.(.+)$")


class WeightsHashError(CheckpointError):
    """A weights file's sha256 does not start with the hash prefix in its name (corrupt or renamed file). A
    ``CheckpointError``, so the CLI prints it as a user error (no traceback)."""


def weights_entry(model_name: str, weights: str) -> Any:
    """The torchvision ``Weights`` entry, e.g. ``ResNet50_Weights.IMAGENET1K_V1`` for ("resnet50", "IMAGENET1K_V1")."""
    import torchvision

    enum = torchvision.models.get_model_weights(model_name)
    try:
        return enum[weights]
    except KeyError:
        raise ValueError(f"{model_name} has no weights {weights!r}; torchvision offers: "
                         f"{', '.join(e.name for e in enum)}.") from None


def weights_filename(model_name: str, weights: str) -> str:
    """File name of the official weights, the last part of their URL (``resnet50-0676ba61.pth``)."""
    return Path(urlparse(weights_entry(model_name, weights).url).path).name


def hub_checkpoint_dir() -> Path:
    """Where torch hub keeps downloaded weights: ``torch.hub.get_dir()/checkpoints`` (follows $TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def hash_prefix(path: str | Path) -> str | None:
    """The sha256 prefix a torchvision-style name carries (``resnet50-0676ba61.pth`` -> ``0676ba61``), else None.

    torch hub's ``HASH_REGEX`` finds it; fewer than 8 hex digits (no torchvision file has fewer) do not count, so
    a name such as ``epoch-1.pth`` is not read as a hash.
    """
    match = torch.hub.HASH_REGEX.search(Path(path).name)
    return match.group(1) if match and len(match.group(1)) >= 8 else None


def check_hash_prefix(path: str | Path) -> str | None:
    """Raise :class:`WeightsHashError` unless the sha256 starts with the name's hash prefix; return the prefix."""
    prefix = hash_prefix(path)
    if prefix is not None:
        digest = sha256_file(path)
        if not digest.startswith(prefix):
            raise WeightsHashError(f"{path}: sha256 {digest} does not start with {prefix!r}, the hash prefix in its "
                                   "name; the file is corrupt or is not the official weights file.")
    return prefix


def resolve_weights_file(model_name: str, weights: str, checkpoint_dir: str | Path | None = None) -> Path:
    """The official weights file in ``checkpoint_dir`` (default: torch hub's), hash-prefix checked."""
    name = weights_filename(model_name, weights)
    path = Path(checkpoint_dir if checkpoint_dir is not None else hub_checkpoint_dir()) / name
    if not path.is_file():
        url = weights_entry(model_name, weights).url
        raise FileNotFoundError(f"{model_name} weights {weights} not found: expected {path}. Nothing is downloaded "
                                f"here; fetch {url} elsewhere and copy it to {path} (torch hub's checkpoint folder, "
                                "which follows $TORCH_HOME) or pass checkpoint_dir=.")
    check_hash_prefix(path)
    return path


def eval_preprocessing(model_name: str, weights: str) -> dict[str, Any]:
    """The weights' evaluation transform: resize (shorter side), crop_size, interpolation, antialias, mean, std."""
    preset = weights_entry(model_name, weights).transforms()
    return {"resize": int(preset.resize_size[0]), "crop_size": int(preset.crop_size[0]),
            "interpolation": preset.interpolation.value, "antialias": preset.antialias,
            "mean": list(preset.mean), "std": list(preset.std)}


def _rename_densenet_legacy_keys(module: nn.Module, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Load-state-dict pre-hook: rename old DenseNet keys in place, as torchvision does before loading its files."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        match = _DENSENET_LEGACY_KEY.match(key[len(prefix):])
        if match:
            state_dict[prefix + match.group(1) + match.group(2) + "." + match.group(3)] = state_dict.pop(key)


@METHODS.register_module()
class TorchvisionClassifier(TimmClassifier):
    """``torchvision.models.get_model(model_name)`` with official (or explicit) weights from a local file.

    An explicit ``checkpoint`` wins over ``weights``; ``weights`` still sets the default ``mean``/``std``. The
    official file is always hash-prefix checked, an explicit one unless ``check_hash=False``. The ImageNet
    reader should resize and crop as :func:`eval_preprocessing` says; ``input_size`` only resizes.
    """

    def __init__(self, model_name: str, num_classes: int = 1000, weights: str | None = "IMAGENET1K_V1",
                 checkpoint: str | None = None, checkpoint_dir: str | None = None, check_hash: bool = True,
                 input_size: int | None = None, mean: float | list[float] | None = None,
                 std: float | list[float] | None = None, model_kwargs: dict[str, Any] | None = None) -> None:
        preset = eval_preprocessing(model_name, weights) if weights else None
        super().__init__(model_name, num_classes, checkpoint=checkpoint, input_size=input_size,
                         mean=mean if mean is not None else (preset["mean"] if preset else list(IMAGENET_MEAN)),
                         std=std if std is not None else (preset["std"] if preset else list(IMAGENET_STD)),
                         model_kwargs=model_kwargs)
        self.weights_name = weights
        self.checkpoint_dir = checkpoint_dir
        self.check_hash = check_hash

    def create_model(self) -> nn.Module:
        import torchvision

        model = torchvision.models.get_model(self.model_name, weights=None, num_classes=self.num_classes,
                                             **self.model_kwargs)
        if self.model_name.startswith("densenet"):
            model.register_load_state_dict_pre_hook(_rename_densenet_legacy_keys)
        return model

    def weights_file(self) -> Path | None:
        """The file ``setup`` loads: the explicit checkpoint, else the official weights file; hash-prefix checked."""
        if self.checkpoint:
            if self.check_hash:
                check_hash_prefix(self.checkpoint)
            return Path(self.checkpoint)
        if self.weights_name:
            return resolve_weights_file(self.model_name, self.weights_name, self.checkpoint_dir)
        return None

    def setup(self, device: torch.device, seed: int = 0) -> None:
        self.device = device
        self.model = self.create_model()
        path = self.weights_file()
        if path is not None:
            self.weights = load_weights(self.model, path)
        self.model.eval().to(device)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "weights_name": self.weights_name}
