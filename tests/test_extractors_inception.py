"""InceptionV3Features on a random-weight file in the official layout: torch-fidelity's outputs, the sFID slice."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from inception_fixture import write_random_inception_weights

from bench.tasks.generation.extractors.inception import WEIGHTS_FILE, WEIGHTS_URL, InceptionV3Features
from bench.io import sha256_file
from bench.registry import EXTRACTORS

torch_fidelity = pytest.importorskip("torch_fidelity")
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3  # noqa: E402
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x  # noqa: E402


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_inception_weights(tmp_path_factory.mktemp("inception") / WEIGHTS_FILE, seed=0)


@pytest.fixture(scope="session")
def extractor(weights: Path) -> InceptionV3Features:
    return InceptionV3Features(str(weights), batch_size=4)


@pytest.fixture(scope="session")
def images() -> torch.Tensor:
    """Three 32x32 RGB images, noise around different base colours so the features differ; the last one is gray
    (R = G = B). Three images and few forward passes keep the file fast: a CPU pass costs ~0.3 s per image."""
    generator = torch.Generator().manual_seed(0)
    base = torch.tensor([[30, 60, 200], [220, 40, 40], [128, 128, 128]], dtype=torch.float32)
    noise = torch.randint(-30, 31, (3, 32, 32, 3), generator=generator).float()
    noise[2] = noise[2, :, :, :1]
    return (base[:, None, None, :] + noise).clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="session")
def features(extractor: InceptionV3Features, images: torch.Tensor) -> dict[str, torch.Tensor]:
    return extractor(images)  # one chunk (batch_size 4)


@pytest.fixture(scope="session")
def chunked(extractor: InceptionV3Features, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The same images in chunks of 2: a full chunk and a 1-image remainder."""
    extractor.batch_size = 2
    try:
        return extractor(images)
    finally:
        extractor.batch_size = 4


def test_fixture_has_the_official_layout(weights: Path, extractor: InceptionV3Features) -> None:
    state = torch.load(weights, weights_only=True)
    model_state = {k: v.shape for k, v in extractor.model.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert {k: v.shape for k, v in state.items()} == model_state
    assert all(torch.equal(extractor.model.state_dict()[k], v) for k, v in state.items())
    assert EXTRACTORS.get("InceptionV3Features") is InceptionV3Features


def test_shapes_and_dtypes(features: dict[str, torch.Tensor]) -> None:
    expected = {"pool": 2048, "logits": 1008, "spatial": 2023}
    assert set(features) == set(expected)
    for key, dim in expected.items():
        assert features[key].shape == (3, dim) and features[key].dtype == torch.float32, key
        assert torch.isfinite(features[key]).all(), key
        assert (features[key].std(dim=0) > 0).any(), f"{key} does not vary between images"


def test_pool_and_logits_are_torch_fidelity_outputs(weights: Path, images: torch.Tensor,
                                                   features: dict[str, torch.Tensor]) -> None:
    reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                            feature_extractor_weights_path=str(weights))
    with torch.no_grad():
        pool, logits = reference(images.permute(0, 3, 1, 2).contiguous())
    assert torch.equal(features["pool"], pool)
    assert torch.equal(features["logits"], logits)
    assert torch.equal(logits, pool @ reference.fc.weight.T)  # bias-free, as the IS of guided-diffusion


def test_spatial_is_mixed_6d_branch1x1_first_7_channels_nhwc(extractor: InceptionV3Features, images: torch.Tensor,
                                                             features: dict[str, torch.Tensor]) -> None:
    m = extractor.model
    with torch.no_grad():
        x = images.permute(0, 3, 1, 2).to(torch.float32)
        x = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
        x = (x - 128) / 128
        for layer in (m.Conv2d_1a_3x3, m.Conv2d_2a_3x3, m.Conv2d_2b_3x3, m.MaxPool_1, m.Conv2d_3b_1x1,
                      m.Conv2d_4a_3x3, m.MaxPool_2, m.Mixed_5b, m.Mixed_5c, m.Mixed_5d, m.Mixed_6a, m.Mixed_6b,
                      m.Mixed_6c):
            x = layer(x)
        assert x.shape == (3, 768, 17, 17)
        conv = m.Mixed_6d.branch1x1(x)  # TF mixed_6/conv:0 = relu(batchnorm(conv)), NCHW here
    assert conv.shape == (3, 192, 17, 17)
    expected = conv[:, :7].permute(0, 2, 3, 1).reshape(3, 17 * 17 * 7)  # NHWC, as spatial[..., :7].reshape([N, -1])
    assert torch.equal(features["spatial"], expected)
    assert torch.equal(features["spatial"].view(3, 17, 17, 7)[:, 2, 5], conv[:, :7, 2, 5])


def test_chunking_gives_the_same_features(features: dict[str, torch.Tensor],
                                          chunked: dict[str, torch.Tensor]) -> None:
    assert torch.equal(chunked["pool"], features["pool"])
    assert torch.equal(chunked["spatial"], features["spatial"])
    # torch-fidelity's logits are pool.mm(fc.weight.T): a CPU BLAS matmul whose blocking, hence rounding, depends on
    # the number of rows, so logits from chunks of different sizes may differ in the last bit
    torch.testing.assert_close(chunked["logits"], features["logits"], rtol=0, atol=1e-5)


def test_one_channel_is_repeated_to_rgb(extractor: InceptionV3Features, images: torch.Tensor,
                                        chunked: dict[str, torch.Tensor]) -> None:
    gray = images[2:, :, :, :1]  # images[2] has R = G = B; in `chunked` it was a 1-image chunk, as here
    assert torch.equal(gray.expand(-1, -1, -1, 3), images[2:])
    out = extractor(gray)
    for key in out:
        assert torch.equal(out[key], chunked[key][2:]), key


def test_describe_records_weights_and_library(weights: Path, extractor: InceptionV3Features) -> None:
    info = extractor.describe()
    assert info["weights"] == str(weights)
    assert info["weights_sha256"] == sha256_file(weights)
    assert info["library"] == f"torch-fidelity {torch_fidelity.__version__}"
    assert info["name"] == "inception-v3-compat"
    assert info["features"] == {"pool": 2048, "logits": 1008, "spatial": 2023}
    assert info["spatial_source"] == "Mixed_6d.branch1x1[:7] (TF mixed_6/conv), NHWC"
    assert extractor.to(torch.device("cpu")) is extractor


def test_missing_weights_name_the_file_and_url(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / WEIGHTS_FILE
    with pytest.raises(FileNotFoundError) as info:
        InceptionV3Features(str(missing))
    message = str(info.value)
    assert str(missing) in message and WEIGHTS_FILE in message
    assert "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" + WEIGHTS_FILE in message
    assert WEIGHTS_URL in message


def test_bad_batch_size(weights: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        InceptionV3Features(str(weights), batch_size=0)


@pytest.mark.parametrize(("bad", "error", "match"), [
    (torch.zeros(2, 32, 32, 3), TypeError, "uint8"),
    (torch.zeros(2, 32, 32, 3).numpy().astype("uint8"), TypeError, "torch.Tensor"),
    (torch.zeros(2, 3, 32, 32, dtype=torch.uint8), ValueError, r"\[B, H, W, C\]"),
    (torch.zeros(32, 32, 3, dtype=torch.uint8), ValueError, r"\[B, H, W, C\]"),
    (torch.zeros(2, 32, 32, 4, dtype=torch.uint8), ValueError, "C = 1 or 3"),
])
def test_bad_input_is_a_clear_error(extractor: InceptionV3Features, bad: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        extractor(bad)  # type: ignore[arg-type]


def test_empty_batch(extractor: InceptionV3Features) -> None:
    out = extractor(torch.zeros(0, 32, 32, 3, dtype=torch.uint8))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"pool": (0, 2048), "logits": (0, 1008), "spatial": (0, 2023)}
