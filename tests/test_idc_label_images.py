"""IDC label images: the official seeded-QR recipe bit for bit, without touching the global RNG, and the L1
distance / nearest-label rule."""
from __future__ import annotations

import hashlib

import pytest
import torch

from bench.methods.idc.label_images import label_distances, label_images, label_images_digest, nearest_label

D = 3 * 32 * 32

# Golden values from the OFFICIAL recipe (hfmei/IDC datasets/custom.py, CustomCIFARDataset: torch.manual_seed(0),
# torch.randn(K, 3*32*32), QR of the transpose, column i viewed as 3x32x32, per-image min-max), printed by
# tests/golden/idc_bridge.py. torch.qr is removed in torch 2.x, so it uses the documented replacement
# torch.linalg.qr(A, mode="reduced") (torch 2.15, MKL LAPACK). Float32 and float64 QR differ by up to 1.3e-6 after
# normalisation (measured), so two float32 QRs from different LAPACK backends may differ by up to twice that per
# entry, and a sum of N entries by N times that (all of one sign at worst).
QR_ENTRY_TOL = 2 * 1.3e-6
GOLDEN = {
    10: {
        "sum": 14852.659280602122,  # float64 sum of all entries
        "image_sums": [1533.8863548189402, 1462.5904967384413, 1340.8781382981688, 1589.0839864686131,
                       1462.7931829504669],
        "entries": {(0, 0, 0, 0): 0.36214926838874817, (1, 2, 31, 31): 0.4829707741737366,
                    (9, 1, 16, 7): 0.37708303332328796, (5, 0, 5, 20): 0.3923349678516388},
    },
    100: {
        "sum": 152738.6561469831,
        "image_sums": [1533.8863548189402, 1462.5904085189104, 1340.8781387936324, 1589.0839871689677,
                       1462.7930936776102],
        "entries": {(0, 0, 0, 0): 0.36214926838874817, (1, 2, 31, 31): 0.4829707741737366,
                    (99, 1, 16, 7): 0.6081598997116089, (50, 0, 5, 20): 0.5718907117843628},
    },
}


def _global_rng_recipe(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The official recipe on the global RNG (inside fork_rng so the test leaves it untouched): (images, raw Q)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        draws = torch.randn(k, D)
    q, _ = torch.linalg.qr(draws.T, mode="reduced")
    columns = [q[:, i].reshape(3, 32, 32) for i in range(k)]
    return torch.stack([(c - c.min()) / (c.max() - c.min()) for c in columns]), q


@pytest.fixture(scope="module")
def labels10() -> torch.Tensor:
    return label_images(10)


@pytest.fixture(scope="module")
def labels100() -> torch.Tensor:
    return label_images(100)


def test_reproducible_and_equal_to_global_rng_recipe(labels10: torch.Tensor, labels100: torch.Tensor) -> None:
    assert torch.equal(label_images(10), labels10)
    assert torch.equal(_global_rng_recipe(10)[0], labels10)
    assert torch.equal(_global_rng_recipe(100)[0], labels100)


def test_does_not_touch_global_rng() -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        expected = torch.rand(5)
        torch.manual_seed(1234)
        label_images(10)
        assert torch.equal(torch.rand(5), expected)


def test_seed_and_shape() -> None:
    small = label_images(4, image_size=8, channels=1, seed=3)
    assert small.shape == (4, 1, 8, 8) and small.dtype == torch.float32
    assert not torch.equal(small, label_images(4, image_size=8, channels=1, seed=4))
    with pytest.raises(ValueError):
        label_images(65, image_size=8, channels=1)


@pytest.mark.parametrize("k", [10, 100])
def test_golden_values_from_official_recipe(k: int, labels10: torch.Tensor, labels100: torch.Tensor) -> None:
    images = labels10 if k == 10 else labels100
    golden = GOLDEN[k]
    assert images.shape == (k, 3, 32, 32)
    for index, value in golden["entries"].items():
        assert images[index].item() == pytest.approx(value, abs=QR_ENTRY_TOL)
    sums = images.double().sum(dim=(1, 2, 3))[:5].tolist()
    assert sums == pytest.approx(golden["image_sums"], abs=D * QR_ENTRY_TOL)  # 8.0e-3 for 3072 entries
    assert images.double().sum().item() == pytest.approx(golden["sum"], abs=images.numel() * QR_ENTRY_TOL)


@pytest.mark.parametrize("k", [10, 100])
def test_range_per_image(k: int, labels10: torch.Tensor, labels100: torch.Tensor) -> None:
    images = labels10 if k == 10 else labels100
    assert torch.all(images.amin(dim=(1, 2, 3)) == 0)
    assert torch.all(images.amax(dim=(1, 2, 3)) == 1)


@pytest.mark.parametrize("k", [10, 100])
def test_near_orthogonality(k: int, labels10: torch.Tensor, labels100: torch.Tensor) -> None:
    images = labels10 if k == 10 else labels100
    _, q = _global_rng_recipe(k)
    q = q.double()
    assert (q.T @ q - torch.eye(k, dtype=torch.float64)).abs().max() < 1e-5  # raw Q columns orthonormal

    # Min-max is affine per image, so after mean-centring image i is (q_i - mean_i) / range_i and the cosine of two
    # centred images equals that of the centred columns: -D m_i m_j / sqrt((1 - D m_i^2)(1 - D m_j^2)), m = column
    # mean. sqrt(D) m_i = <q_i, 1/sqrt(D)> is the component of a random unit vector along the unit constant
    # direction, about z_i / sqrt(D) with z_i ~ N(0, 1), so |cos| ≈ |z_i z_j| / D. Measured max 0.0016 (K=10) and
    # 0.0025 (K=100); the bound 0.005 ≈ 15 / D allows |z_i z_j| up to 15.
    centred = images.reshape(k, -1).double()
    centred = centred - centred.mean(dim=1, keepdim=True)
    centred = centred / centred.norm(dim=1, keepdim=True)
    cosine = centred @ centred.T
    m = q.mean(dim=0)
    predicted = -D * m[:, None] * m[None] / torch.sqrt((1 - D * m[:, None] ** 2) * (1 - D * m[None] ** 2))
    off_diagonal = ~torch.eye(k, dtype=torch.bool)
    assert (cosine - predicted)[off_diagonal].abs().max() < 1e-5
    assert cosine[off_diagonal].abs().max() < 0.005
    # Uncentred, the [0, 1] images are far from orthogonal (all have mean about 0.5).
    raw = images.reshape(k, -1).double()
    raw = raw / raw.norm(dim=1, keepdim=True)
    assert (raw @ raw.T)[off_diagonal].min() > 0.8


def test_distances_and_nearest_by_hand() -> None:
    labels = torch.zeros(3, 1, 2, 2)
    labels[1] = 1.0
    labels[2] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    images = torch.stack([torch.full((1, 2, 2), 0.2), torch.tensor([[[0.9, 0.1], [0.0, 0.8]]])])
    expected = torch.tensor([[0.2, 0.8, 0.5], [0.45, 0.55, 0.1]])
    distances = label_distances(images, labels)
    assert distances.shape == (2, 3)
    torch.testing.assert_close(distances, expected, rtol=0, atol=1e-6)
    assert nearest_label(images, labels).tolist() == [0, 2]
    with pytest.raises(ValueError):
        label_distances(images, labels[:, :, :1])


def test_nearest_ties_go_to_lowest_index() -> None:
    labels = torch.stack([torch.full((1, 1, 2), v) for v in (0.0, 1.0, 0.0, 1.0)])
    images = torch.stack([torch.full((1, 1, 2), 0.5), torch.full((1, 1, 2), 0.9), torch.full((1, 1, 2), 0.0)])
    # image 0 is equally far from all four; image 1 ties labels 1 and 3; image 2 ties labels 0 and 2
    assert nearest_label(images, labels).tolist() == [0, 1, 0]
    assert nearest_label(images, labels.flip(0)).tolist() == [0, 0, 1]


def test_digest(labels10: torch.Tensor) -> None:
    digest = label_images_digest(labels10)
    assert digest == hashlib.sha256(labels10.numpy().tobytes()).hexdigest()
    assert digest == label_images_digest(labels10.double())  # float32 bytes whatever the input dtype
    changed = labels10.clone()
    changed[0, 0, 0, 0] += 1e-6
    assert label_images_digest(changed) != digest
