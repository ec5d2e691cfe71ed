"""Intra-LPIPS: CDC's cluster protocol on a hand case with a toy distance, subsampling and undefined cases; the VGG
LPIPS distance with its trunk from a local torchvision-format file."""
from __future__ import annotations

import pytest
import torch

from bench.checkpoint import CheckpointError
from bench.metrics.intra_lpips import LPIPSDistance, intra_cluster_distance, mean_pairwise


def absolute(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (x - y).abs().flatten(1).sum(1)


def test_hand_case_assignment_pairwise_means_and_skipped_clusters():
    centres = torch.tensor([[0.0], [10.0], [100.0]])
    generated = torch.tensor([[1.0], [2.0], [4.0], [9.0], [11.0], [30.0], [5.0]])  # 5.0 ties 0 and 10 -> centre 0
    result = intra_cluster_distance(generated, centres, absolute, cluster_size=None)
    # cluster 0: {1, 2, 4, 5}: pairs 1, 3, 4, 2, 3, 1 -> 14 / 6; cluster 1: {9, 11, 30}: 2, 21, 19 -> 14
    assert result.members == [4, 3, 0] and result.used == [4, 3, 0]
    assert result.per_cluster == [pytest.approx(14 / 6), pytest.approx(14.0), None]
    assert result.skipped_clusters == 1
    assert result.value == pytest.approx((14 / 6 + 14) / 2)
    assert result.std == pytest.approx(torch.tensor([14 / 6, 14.0], dtype=torch.float64).std().item())


def test_clusters_are_subsampled_to_cluster_size_reproducibly():
    centres = torch.tensor([[0.0]])
    generated = torch.tensor([[1.0], [2.0], [4.0], [8.0]])
    first = intra_cluster_distance(generated, centres, absolute, cluster_size=2, seed=3, batch_size=1)
    again = intra_cluster_distance(generated, centres, absolute, cluster_size=2, seed=3)
    assert first.used == [2] and first.members == [4]
    assert first.value == again.value
    assert first.value in {1.0, 3.0, 7.0, 2.0, 6.0, 4.0}  # one pair's distance
    assert mean_pairwise(generated, absolute, batch_size=4) == pytest.approx((1 + 3 + 7 + 2 + 6 + 4) / 6)
    assert mean_pairwise(generated[:1], absolute) is None


def test_undefined_and_malformed_inputs_are_errors():
    centres = torch.tensor([[0.0], [10.0]])
    with pytest.raises(ValueError, match=r"no cluster has two members \(members per centre: \[1, 1\]\)"):
        intra_cluster_distance(torch.tensor([[1.0], [9.0]]), centres, absolute)
    with pytest.raises(ValueError, match="must be batches of same-shaped images"):
        intra_cluster_distance(torch.zeros(4, 2), centres, absolute)
    with pytest.raises(ValueError, match="cluster_size must be at least 2"):
        intra_cluster_distance(torch.zeros(4, 1), centres, absolute, cluster_size=1)


@pytest.fixture(scope="module")
def random_trunk_lpips() -> LPIPSDistance:
    pytest.importorskip("lpips")
    torch.manual_seed(0)
    return LPIPSDistance(None)


def test_lpips_of_an_image_with_itself_is_zero_and_the_backbone_is_recorded(random_trunk_lpips):
    torch.manual_seed(1)
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    assert random_trunk_lpips(x, x).tolist() == [0.0, 0.0]
    assert (random_trunk_lpips(x, y) > 0).all()
    assert random_trunk_lpips.describe()["trunk"] == "random (test only)"
    assert random_trunk_lpips.describe()["net"] == "vgg16"


def test_trunk_is_read_from_a_local_torchvision_file(random_trunk_lpips, tmp_path):
    state = {f"features.{i}.{p}": torch.full_like(
        random_trunk_lpips.model.net.get_parameter(f"slice{k}.{i}.{p}"), 0.01 * i, dtype=torch.float16)
             for k, layers in ((1, (0, 2)), (2, (5, 7)), (3, (10, 12, 14)), (4, (17, 19, 21)), (5, (24, 26, 28)))
             for i in layers for p in ("weight", "bias")}
    torch.save(state, tmp_path / "vgg16-397923af.pth")
    loaded = LPIPSDistance(tmp_path / "vgg16-397923af.pth")
    assert loaded.model.net.get_parameter("slice3.12.weight").dtype == torch.float32
    weight = loaded.model.net.get_parameter("slice3.12.weight")
    assert torch.all(weight == torch.tensor(0.12, dtype=torch.float16).float())
    assert loaded.describe()["weights_file"] == "vgg16-397923af.pth"
    assert len(loaded.describe()["weights_sha256"]) == 64
    del state["features.28.bias"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"partial\.pth is not a torchvision vgg16 state dict: missing 1 of its "
                                              r"26 features\.\* entries \(features\.28\.bias"):
        LPIPSDistance(tmp_path / "partial.pth")
    with pytest.raises(FileNotFoundError, match="Expected torchvision's vgg16-397923af.pth"):
        LPIPSDistance(tmp_path / "absent.pth")
