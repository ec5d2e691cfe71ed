"""Classifier extractors: a released timm classifier from a local file, features and logits as the model gives."""
from __future__ import annotations

import pytest
import timm
import torch

from bench.methods.classifier.features import TimmClassifierFeatures


def test_timm_classifier_features_from_a_local_file(tmp_path) -> None:
    torch.manual_seed(0)
    model = timm.create_model("resnet10t", pretrained=False, num_classes=7)
    torch.save(model.state_dict(), tmp_path / "resnet10t.pth")
    extractor = TimmClassifierFeatures("resnet10t", str(tmp_path / "resnet10t.pth"), num_classes=7, input_size=32,
                                       mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    images = torch.randint(0, 256, (3, 16, 16, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = extractor(images)
    x = torch.nn.functional.interpolate(images.permute(0, 3, 1, 2).float() / 255, size=32, mode="bilinear",
                                        align_corners=False)
    with torch.no_grad():
        expected = model.eval()((x - 0.5) / 0.25)
    assert torch.allclose(out["logits"], expected, atol=1e-5)
    assert tuple(out["pool"].shape) == (3, model.num_features)
    facts = extractor.describe()
    assert facts["features"] == {"pool": model.num_features, "logits": 7} and len(facts["weights_sha256"]) == 64
    with pytest.raises(ValueError, match="uint8 images"):
        extractor(images.float())
