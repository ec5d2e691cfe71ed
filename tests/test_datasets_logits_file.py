import pytest
import torch

from bench.data import DatasetLayoutError
from bench.datasets.logits_file import LogitsFile


def test_reads_the_calibrator_tuple_and_dict_formats(tmp_path):
    logits, labels = torch.randn(6, 4), torch.tensor([0, 1, 2, 3, 0, 1])
    torch.save((logits, labels), tmp_path / "resnet50_cifar10_cross_entropy_val_0.1_vanilla.pt")
    torch.save({"logits": logits, "labels": labels}, tmp_path / "as_dict.pt")
    a = LogitsFile(str(tmp_path / "resnet50_cifar10_cross_entropy_val_0.1_vanilla.pt"))
    b = LogitsFile(str(tmp_path / "as_dict.pt"))
    assert len(a) == 6 and torch.equal(a[2]["logits"], logits[2]) and int(a[2]["target"]) == 2
    assert a.sample_id(5) == "resnet50_cifar10_cross_entropy_val_0.1_vanilla-00005"
    assert torch.equal(b.logits, a.logits) and a.fingerprint() != b.fingerprint()
    assert a.describe()["num_classes"] == 4


def test_bad_files_name_the_expected_layout(tmp_path):
    with pytest.raises(DatasetLayoutError, match="missing file"):
        LogitsFile(str(tmp_path / "absent.pt"))
    torch.save((torch.randn(3, 2), torch.tensor([0, 1])), tmp_path / "short.pt")
    with pytest.raises(DatasetLayoutError, match=r"logits must be \[N, C\] and labels \[N\]"):
        LogitsFile(str(tmp_path / "short.pt"))
    torch.save([torch.randn(3, 2)], tmp_path / "one.pt")
    with pytest.raises(DatasetLayoutError, match="torch.save"):
        LogitsFile(str(tmp_path / "one.pt"))
