import hashlib
import math
import warnings

import pytest
import torch

from bench.registry import EXTRACTORS
from bench.tasks.generation.extractors.sscd import SSCDFeatures, max_similarity


class Corner(torch.nn.Module):
    """Stands in for SSCD: the descriptor is the 2 x 2 top-left corner of the preprocessed image, times 3 (not unit
    norm, so the extractor's normalisation shows)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 3.0 * x[:, :, :2, :2].flatten(1)


@pytest.fixture
def sscd_file(tmp_path):
    path = tmp_path / "sscd_disc_large.torchscript.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch >= 2.10 deprecates TorchScript
        torch.jit.script(Corner()).save(str(path))
    return path


def test_descriptors_are_the_networks_output_on_the_wen_preprocessing_l2_normalised(sscd_file):
    # 256 x 256, pixel (row, col) = row + col in every channel: Resize(256) keeps it, CenterCrop(224) starts at 16,
    # so the corner holds 32, 33, 33, 34 per channel -> (v / 255 - 0.5) / 0.5; 12 values, normalised
    rows, cols = torch.meshgrid(torch.arange(256), torch.arange(256), indexing="ij")
    image = (rows + cols).to(torch.uint8)[..., None].expand(-1, -1, 3)
    corner = [(v / 255 - 0.5) / 0.5 for v in (32, 33, 33, 34)] * 3
    norm = math.sqrt(sum(c * c for c in corner))
    features = SSCDFeatures(str(sscd_file))(torch.stack([image, image]))
    assert set(features) == {"pool"} and features["pool"].shape == (2, 12) and features["pool"].dtype == torch.float32
    assert torch.allclose(features["pool"][0], torch.tensor([c / norm for c in corner]), atol=1e-6)
    assert torch.allclose(features["pool"].norm(dim=1), torch.ones(2))


def test_batches_of_any_size_and_ragged_lists_give_the_same_descriptors(sscd_file):
    gen = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 256, (h, w, 3), generator=gen, dtype=torch.uint8) for h, w in
              ((256, 256), (300, 280), (512, 384))]
    one = SSCDFeatures(str(sscd_file), batch_size=1)(images)["pool"]
    many = SSCDFeatures(str(sscd_file), batch_size=64)(images)["pool"]
    assert one.shape == (3, 12) and torch.equal(one, many)


def test_describe_records_the_file_hash_and_the_preprocessing(sscd_file):
    extractor = EXTRACTORS.build({"type": "SSCDFeatures", "weights": str(sscd_file), "preprocessing": "amg"})
    facts = extractor.describe()
    assert facts["weights_sha256"] == hashlib.sha256(sscd_file.read_bytes()).hexdigest()
    assert facts["weights_file"] == "sscd_disc_large.torchscript.pt"
    assert facts["paper_weights_file"] == "sscd_disc_mixup.torchscript.pt"
    assert facts["preprocessing"]["name"] == "amg" and facts["preprocessing"]["mean"] is None
    assert facts["preprocessing"]["resize"] == (224, 224) and facts["preprocessing"]["crop"] is None
    assert extractor.to("cpu").device == torch.device("cpu")


def test_missing_or_wrong_weight_files_name_the_expected_file_and_where_to_get_it(tmp_path, sscd_file):
    with pytest.raises(FileNotFoundError, match=r"sscd_disc_large\.torchscript\.pt .*https://dl\.fbaipublicfiles\.com/"
                                                r"sscd-copy-detection/sscd_disc_large\.torchscript\.pt"):
        SSCDFeatures(str(tmp_path / "nope.pt"))
    with pytest.raises(FileNotFoundError, match=r"sscd_disc_mixup\.torchscript\.pt"):
        SSCDFeatures(str(tmp_path / "nope.pt"), preprocessing="amg_tensor")
    state = tmp_path / "sscd_disc_mixup.torchvision.pt"
    torch.save({"weight": torch.zeros(2)}, state)
    with pytest.raises(ValueError, match=r"not a TorchScript archive .*torchvision\.pt files need SSCD's own code"):
        SSCDFeatures(str(state))
    with pytest.raises(ValueError, match=r"unknown preprocessing 'DCR'"):
        SSCDFeatures(str(sscd_file), preprocessing="DCR")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        SSCDFeatures(str(sscd_file), batch_size=0)


def test_max_similarity_is_the_best_cosine_over_ground_truth_images_by_hand():
    generated = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    reference = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    # cosines: gen 0 -> (1, 1/sqrt2), gen 1 -> (0, 1/sqrt2), gen 2 -> (1/sqrt2, 1)
    values, index = max_similarity(generated, reference)
    assert torch.allclose(values, torch.tensor([1.0, 1 / math.sqrt(2), 1.0]))
    assert index.tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="no ground-truth descriptors"):
        max_similarity(generated, torch.empty(0, 2))
    with pytest.raises(ValueError, match=r"same D, got \(3, 2\) and \(2, 3\)"):
        max_similarity(generated, torch.zeros(2, 3))
