"""Teacher, student and projector shapes (bench.methods.two_in_one_kd.models)."""
from __future__ import annotations

import pytest
import torch

from bench.methods.two_in_one_kd.frequency import band_decompose
from bench.methods.two_in_one_kd.models import DualBranchTeacher, Projector, Student


def test_teacher_branches_and_fused_logit():
    torch.manual_seed(0)
    teacher = DualBranchTeacher("test_resnet", "test_resnet").eval()
    images = torch.rand(2, 3, 32, 32)
    out = teacher(images)
    assert out["logit"].shape == (2,)
    assert out["spatial"].shape == (2, teacher.spatial.num_features)
    assert out["frequency"].shape == (2, teacher.frequency.num_features)
    # the frequency branch sees the 3 x 3 band images, the spatial branch the image itself
    torch.testing.assert_close(out["frequency"], teacher.frequency(band_decompose(images)))
    torch.testing.assert_close(out["spatial"], teacher.spatial(images))
    fused = teacher.head(torch.cat([out["spatial"], out["frequency"]], 1)).squeeze(1)
    torch.testing.assert_close(out["logit"], fused)


def test_student_and_projectors_map_into_each_branch_space():
    torch.manual_seed(0)
    teacher = DualBranchTeacher("test_resnet", "test_efficientnet")
    student = Student("test_convnext")
    features = student(torch.rand(3, 3, 32, 32))["features"]
    for kind in ("linear", "mlp"):
        to_spatial = Projector(features.shape[1], teacher.spatial.num_features, kind)
        to_frequency = Projector(features.shape[1], teacher.frequency.num_features, kind)
        assert to_spatial(features).shape == (3, teacher.spatial.num_features)
        assert to_frequency(features).shape == (3, teacher.frequency.num_features)
    with pytest.raises(ValueError, match="mlp"):
        Projector(4, 4, "conv")


def test_student_is_much_smaller_than_the_teacher():
    teacher = DualBranchTeacher("test_resnet", "test_resnet")
    student = Student("test_efficientnet")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(student) < count(teacher) / 3


def test_backbones_start_from_a_local_weight_file(tmp_path):
    import timm

    from bench.methods.two_in_one_kd.models import timm_backbone

    torch.manual_seed(0)
    source = timm.create_model("test_resnet")
    weights = tmp_path / "test_resnet.pth"
    torch.save(source.state_dict(), weights)
    local = {"pretrained": True, "pretrained_cfg_overlay": {"file": str(weights)}}
    rgb = timm_backbone("test_resnet", 3, **local)
    torch.testing.assert_close(rgb.conv1[0].weight, source.conv1[0].weight)
    bands = timm_backbone("test_resnet", 9, **local)  # the frequency branch: first conv adapted to 9 channels
    assert bands.conv1[0].weight.shape[1] == 9
    torch.testing.assert_close(bands.layer1[0].conv1.weight, source.layer1[0].conv1.weight)
